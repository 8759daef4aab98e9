// Package oci owns the OCI runtime-spec config.json of a container: Options holds what the
// kubelet decides for one container, Generate turns it into a specs.Spec with podnet's defaults
// (Docker/containerd's mounts, 14 capabilities, masked and read-only paths, devices, rlimits,
// RuntimeDefault seccomp), and WriteBundle writes it into the bundle directory. The result runs
// under podnet's own executor and, unchanged, under runc or crun.
package oci
