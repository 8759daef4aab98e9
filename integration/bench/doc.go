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
package main
