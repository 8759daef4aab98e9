// Package harness starts podnet nodes for end-to-end tests, each isolated in network namespaces of
// its own, and removes everything they made even when a test fails.
//
// A node is two network namespaces joined by a veth pair on a private /24 from 10.199.0.0/16:
// "node" (address .2, default route via the client), where `podnet serve` runs, and "client"
// (address .1), an outside machine for NodePort, LoadBalancer and Ingress checks. The daemon is
// started with `nsenter --net=`, never `ip netns exec`, so that it shares the host's mount
// namespace and its mounts outlive a daemon restart, as they would on a real host.
//
//	n := harness.StartNode(t, harness.Options{})
//	out := n.MustKubectl(t, "get", "pods")
//
// StartNode needs root and bin/podnet (or PODNET_BIN). Without root a test is skipped, unless
// PODNET_INTEGRATION=1 (make test sets it), which turns every missing prerequisite into a failure.
// Kubectl runs the system kubectl (KUBECTL, else a kubectl >= 1.30 on PATH, else bin/kubectl);
// PodnetKubectl runs `podnet kubectl`. Both run inside the node's namespace with the node's
// kubeconfig and a private discovery cache.
//
// At cleanup the harness stops the daemon (SIGTERM, then SIGKILL after 20 s), prints the last 200
// log lines if the test failed, and then reports as test errors — after removing them — whatever
// podnet left behind: processes still inside the node's, the client's or any namespace pinned
// under the node's directories, mounts under the run or data dir, and the namespaces themselves.
//
// NewNetwork gives the two namespaces without a daemon. Node methods that can fail the test report
// to the test that started the node, so call them from that test's goroutine; InNodeNS and
// InClientNS callbacks return errors rather than calling t.Fatal.
package harness
