// Package cgroups owns the control groups of podnet's containers: it creates a container's cgroup
// from a runtime-spec cgroupsPath the way runc's cgroupfs driver reads it (relative to every mounted
// v1 controller on a legacy or hybrid host, relative to the unified mount on a pure v2 host), writes
// the memory, cpu, cpuset, pids and device limits of linux.resources (devices through the v1
// devices controller, and through a BPF device filter on the cgroup2 directory wherever there is
// one), moves processes in, reports OOM kills and removes the cgroup with whatever is left inside it.
package cgroups
