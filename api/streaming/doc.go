// Package streaming owns the contract between the API server and the node for pods/log,
// pods/exec and pods/attach (the Pods interface, Streams, TerminalSize, ExitError), and the
// server side of Kubernetes' remote command protocol that carries exec and attach sessions:
// websocket (v5.channel.k8s.io, v4.channel.k8s.io and the older channel.k8s.io variants) and
// the SPDY/3.1 fallback (v4, v3 and v2.channel.k8s.io), with kubelet's stream layout, resize
// messages and error-channel Status.
package streaming
