// Package sandbox owns pod sandboxes: per pod, a directory under the run dir holding the pod's
// network, UTS and IPC namespaces pinned by bind mounts (there is no pause process), the files its
// containers share (/etc/hosts, /etc/resolv.conf, /etc/hostname) and a record of what was made, so
// that a sandbox can be torn down, also by a daemon that crashed while making it. The pod's network
// attachment goes through a CNI network (podnet's cni package), with the sandbox's ID as the
// container ID CNI sees.
package sandbox
