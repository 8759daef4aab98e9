// Package containers owns the containers of this node: per container, a bundle under
// <data-dir>/containers/<id> (config.json from runtime/oci, an overlay rootfs from runtime/image,
// container.json saying whose it is) and a shim under <run-dir>/shims that runs it with the
// configured executor. It finds its containers again after a daemon restart, alive or exited,
// from those directories alone, and removes every trace of one (shim state, cgroup, mounts,
// bundle) when asked. The kubelet (node/) decides what to run; this package runs it.
package containers
