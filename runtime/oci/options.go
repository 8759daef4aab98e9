package oci

import (
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Options is everything the kubelet decides about one container's runtime configuration.
type Options struct {
	Args     []string // process.args, after Kubernetes' command/args rules; required
	Env      []string // KEY=value
	Cwd      string   // default "/"
	Hostname string   // the pod's hostname; empty leaves the joined UTS namespace's name alone
	// Rootfs is the container's root directory, absolute or relative to the bundle
	// (default "rootfs", the overlay mount of the bundle layout).
	Rootfs         string
	ReadonlyRootfs bool
	User           User
	Namespaces     Namespaces
	Mounts         []Mount // binds beyond the defaults; one with a default's destination replaces it
	// CapAdd and CapDrop use Kubernetes' names (NET_ADMIN, "CAP_" optional) or ALL; they apply to
	// the default set as containerd applies them: ALL first, then single names, drops last.
	CapAdd, CapDrop []string
	// Privileged gives every capability, every device, no masked or read-only paths, writable
	// /sys and /sys/fs/cgroup, and no seccomp (Kubernetes runs privileged containers unconfined).
	Privileged      bool
	NoNewPrivileges bool // from allowPrivilegeEscalation=false (kubelet's default rules)
	Seccomp         SeccompMode
	Resources       Resources
	CgroupsPath     string // /podnet/<node-scope>/pod<uid>/<container-id>
	OOMScoreAdj     *int   // nil leaves the runtime's own
	// Rlimits replaces the default (RLIMIT_NOFILE 1048576 soft and hard, as containerd); nil
	// keeps it, an empty non-nil slice sets none.
	Rlimits []specs.POSIXRlimit
	// Terminal means the shim gives the container a pty. process.terminal stays false (the shim,
	// not the runtime, owns the pty); TERM=xterm is added to Env unless set, as containerd does.
	Terminal bool
}

// User is the identity the container process runs as.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
}

// Namespaces are the pod's pinned namespaces the container joins; the pid and mount namespaces
// are always new. Each field is an absolute path of a namespace file (a bind mount under the run
// dir), "" for a new namespace, or HostNamespace to stay in the host's (hostNetwork, hostIPC).
type Namespaces struct {
	Net, UTS, IPC string
}

// HostNamespace in a Namespaces field shares the host's namespace of that kind.
const HostNamespace = "host"

// Mount is a bind mount into the container (/etc/hosts, /etc/resolv.conf, volumes, …).
type Mount struct {
	Source      string // host path, absolute
	Destination string // path in the container, absolute
	Readonly    bool
}

// SeccompMode is the pod's seccompProfile type.
type SeccompMode string

// Seccomp modes; Unconfined is Kubernetes' default.
const (
	SeccompUnconfined     SeccompMode = "Unconfined"
	SeccompRuntimeDefault SeccompMode = "RuntimeDefault"
)

// Resources are the container's limits and requests; zero means unset.
type Resources struct {
	MemoryLimit     int64 // bytes
	CPULimitMilli   int64 // cpu quota: millicores × period / 1000
	CPURequestMilli int64 // cpu shares, kubelet's MilliCPUToShares (minimum 2)
	PidsLimit       int64
}
