// Command bench measures podnet's API and memory, with etcd (the store under kube-apiserver)
// measured side by side in the same run, and prints one table. `make bench` runs it as root.
//
// It makes a network namespace of its own, re-runs itself inside it, and starts there
// `bin/podnet serve` (API on 127.0.0.1 only) and, when /usr/bin/etcd exists, an etcd on loopback;
// nothing outside that namespace and a temporary directory is touched. Both are stopped by PID
// and the namespace removed at the end.
//
// Figures: create, get and list latency (p50, p99) one request at a time; requests per second
// with concurrent clients; and the resident memory of each server idle and holding -objects
// Services (for etcd, the same objects stored as kube-apiserver would store them).
//
// Pods (skipped with -pods=false): a second podnet (--offline, busybox imported) runs busybox
// pods; create-to-Ready is timed from the create call to the watch's Ready event, 50 pods one
// after another and 50 at once, beside Debian's podman running the same image (podman run -d on
// its bridge network, all its state in the temporary directory and, for the paths podman fixes,
// tmpfs in the bench's private mount namespace); shim and conmon RSS; the daemon's RSS with 100
// pods; and the most pods the machine holds up to -pod-cap. Everything is deleted and checked
// gone (pods, shims, bundles, mounts, conmon processes, cgroups) before the bench ends.
//
// Services (skipped with -services=false): a third podnet, its node address on a veth pair
// inside the bench's namespace (so that NodePorts answer on a non-loopback address), one nginx
// pod behind the Services. (a) create call to first TCP connection to a new Service's ClusterIP
// with 0, -svc-max/10 and -svc-max selectorless Services (each with a user-written 2-endpoint
// EndpointSlice) present; (b) a full sync of -svc-max Services × 2 endpoints by services/proxy
// in process, on a table of its own; (c) requests per second and p99, a new connection per
// request, to the pod IP, the ClusterIP and the NodePort; (d) connect latency to the ClusterIP
// with 10 and -svc-max Services present, the pod IP beside it. The peer for (a) and (b) is
// kube-proxy's nftables ruleset layout (chains per service and endpoint, the service-ips map)
// loaded with the same nft on a table of its own: nft's cost on kube-proxy's shape, not
// kube-proxy's Go code, which cannot run here. Services, pod, podnet and all three tables are
// removed and checked gone at the end.
//
// DNS (skipped with -dns=false): a fourth podnet on the services section's veth (its DNS on
// 10.250.0.1:53) holding 1,000 selectorless ClusterIP Services (2 endpoints each) and 100
// headless ones (3 endpoints with hostnames), and CoreDNS (bin/coredns, or $COREDNS) beside it on
// port 1053 with kubeadm's plugins for names: kubernetes (reading podnet's API through the
// node's kubeconfig), forward and cache 30. Both forward to an upstream the bench serves itself
// (in process, on 10.253.0.53:53 inside its namespace) that knows 1,000 names under example.test.
// Every question of the two query files (cluster names: A, AAAA, SRV, PTR and headless names;
// external names, cached) is asked of both servers first, which warms their caches and checks
// that they answer alike; then dnsperf runs against each in turn for -duration, 5 rounds
// alternating which goes first, at full load (queries per second, the server's CPU time per
// query) and at 10,000 queries per second (p99 from dnsperf -v's per-query latencies); figures
// are medians of the rounds, the goal is read on the median of each round's podnet/CoreDNS
// ratio (the machine may be shared: back-to-back runs see it alike). RSS of the daemon and of
// CoreDNS, and the Go heap of podnet's DNS index and caches measured on a services/dns Server in
// the bench's own process, close the table.
package main
