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
package main
