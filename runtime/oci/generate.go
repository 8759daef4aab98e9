package oci

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/runtime/seccomp"
)

// DefaultCaps are the 14 capabilities Docker and containerd 1.x give a container.
var DefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// AllCaps are the kernel's capabilities in number order (0 to 40, CAP_LAST_CAP of Linux 5.9+):
// a capability's index is its number.
var AllCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// MaskedPaths are hidden from unprivileged containers (bind of /dev/null, or an empty read-only
// tmpfs for directories); ReadonlyPaths are remounted read-only.
var (
	MaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/proc/interrupts", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

const (
	// DefaultRootfs is the bundle-relative root of the shared bundle layout.
	DefaultRootfs = "rootfs"
	defaultPath   = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	cpuPeriod     = 100000 // µs, kubelet's default CFS period
	minQuota      = 1000   // µs, the kernel's minimum CFS quota (kubelet's MinQuotaPeriod)
	minShares     = 2      // kubelet's MinShares
	maxShares     = 262144 // kubelet's MaxShares
	nofile        = 1048576
)

// DefaultRlimits is containerd's: a high open-file limit, since images expect it.
func DefaultRlimits() []specs.POSIXRlimit {
	return []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}}
}

var rlimitTypes = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
	"RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
	"RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

// Generate validates o and builds the container's runtime-spec.
func Generate(o Options) (*specs.Spec, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	caps := o.capabilities()
	rootfs := o.Rootfs
	if rootfs == "" {
		rootfs = DefaultRootfs
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = "/"
	}
	rlimits := o.Rlimits
	if rlimits == nil {
		rlimits = DefaultRlimits()
	}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: o.ReadonlyRootfs},
		Process: &specs.Process{
			User: specs.User{UID: o.User.UID, GID: o.User.GID,
				AdditionalGids: slices.Clone(o.User.AdditionalGids)},
			Args: slices.Clone(o.Args),
			Env:  o.env(),
			Cwd:  cwd,
			// Ambient and inheritable stay empty, as in containerd: root gets CapEff = caps,
			// and a non-root user gets no effective capabilities after execve, as in Docker.
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: slices.Clone(caps),
				Permitted: slices.Clone(caps),
			},
			Rlimits:         slices.Clone(rlimits),
			NoNewPrivileges: o.NoNewPrivileges,
			OOMScoreAdj:     o.OOMScoreAdj,
		},
		Hostname: o.Hostname,
		Mounts:   o.mounts(),
		Linux: &specs.Linux{
			Namespaces:  o.namespaces(),
			Devices:     defaultDevices(),
			CgroupsPath: o.CgroupsPath,
			Resources:   o.resources(),
		},
	}
	if !o.Privileged {
		s.Linux.MaskedPaths = slices.Clone(MaskedPaths)
		s.Linux.ReadonlyPaths = slices.Clone(ReadonlyPaths)
		if o.Seccomp == SeccompRuntimeDefault {
			s.Linux.Seccomp = seccomp.RuntimeDefault(caps)
		}
	}
	return s, nil
}

func (o *Options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(o.Args) == 0 {
		bad("args: at least one is required")
	}
	if o.Cwd != "" && !path.IsAbs(o.Cwd) {
		bad("cwd %q: must be absolute", o.Cwd)
	}
	for i, e := range o.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			bad("env[%d] %q: not KEY=value", i, e)
		}
	}
	if len(o.Hostname) > 64 {
		bad("hostname %q: longer than 64 bytes", o.Hostname)
	}
	if o.Hostname != "" && o.Namespaces.UTS == HostNamespace {
		bad("hostname %q: cannot be set in the host's UTS namespace", o.Hostname)
	}
	for _, n := range []struct{ name, v string }{{"net", o.Namespaces.Net}, {"uts", o.Namespaces.UTS}, {"ipc", o.Namespaces.IPC}} {
		if n.v != "" && n.v != HostNamespace && !path.IsAbs(n.v) {
			bad("namespaces.%s %q: must be an absolute path, empty or %q", n.name, n.v, HostNamespace)
		}
	}
	seen := map[string]bool{}
	for i, m := range o.Mounts {
		if !path.IsAbs(m.Source) {
			bad("mounts[%d]: source %q must be absolute", i, m.Source)
		}
		if !path.IsAbs(m.Destination) {
			bad("mounts[%d]: destination %q must be absolute", i, m.Destination)
			continue
		}
		d := path.Clean(m.Destination)
		if seen[d] {
			bad("mounts[%d]: destination %q mounted twice", i, m.Destination)
		}
		seen[d] = true
	}
	for _, l := range []struct {
		name  string
		names []string
	}{{"capAdd", o.CapAdd}, {"capDrop", o.CapDrop}} {
		for _, c := range l.names {
			if n := capName(c); n != "CAP_ALL" && !slices.Contains(AllCaps, n) {
				bad("%s %q: unknown capability", l.name, c)
			}
		}
	}
	switch o.Seccomp {
	case "", SeccompUnconfined, SeccompRuntimeDefault:
	default:
		bad("seccomp %q: unknown mode (%s or %s)", o.Seccomp, SeccompUnconfined, SeccompRuntimeDefault)
	}
	r := o.Resources
	for _, v := range []struct {
		name string
		v    int64
	}{{"memoryLimit", r.MemoryLimit}, {"cpuLimitMilli", r.CPULimitMilli}, {"cpuRequestMilli", r.CPURequestMilli}, {"pidsLimit", r.PidsLimit}} {
		if v.v < 0 {
			bad("resources.%s %d: negative", v.name, v.v)
		}
	}
	if o.CgroupsPath != "" && !path.IsAbs(o.CgroupsPath) {
		bad("cgroupsPath %q: must be absolute", o.CgroupsPath)
	}
	if o.OOMScoreAdj != nil && (*o.OOMScoreAdj < -1000 || *o.OOMScoreAdj > 1000) {
		bad("oomScoreAdj %d: outside -1000..1000", *o.OOMScoreAdj)
	}
	for i, rl := range o.Rlimits {
		if !slices.Contains(rlimitTypes, rl.Type) {
			bad("rlimits[%d]: unknown type %q", i, rl.Type)
		}
		if rl.Soft > rl.Hard {
			bad("rlimits[%d] %s: soft %d above hard %d", i, rl.Type, rl.Soft, rl.Hard)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("oci: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

// capName turns Kubernetes' NET_ADMIN (or net_admin, CAP_NET_ADMIN) into the spec's CAP_NET_ADMIN.
func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// capabilities applies privileged, then ALL, then single adds, then single drops (containerd's
// order: add ALL + drop CHOWN is everything but CHOWN; drop ALL + add NET_BIND_SERVICE is that one).
func (o *Options) capabilities() []string {
	if o.Privileged {
		return slices.Clone(AllCaps)
	}
	caps := slices.Clone(DefaultCaps)
	for _, c := range o.CapAdd {
		if capName(c) == "CAP_ALL" {
			caps = slices.Clone(AllCaps)
		}
	}
	for _, c := range o.CapDrop {
		if capName(c) == "CAP_ALL" {
			caps = []string{}
		}
	}
	for _, c := range o.CapAdd {
		if n := capName(c); n != "CAP_ALL" && !slices.Contains(caps, n) {
			caps = append(caps, n)
		}
	}
	for _, c := range o.CapDrop {
		n := capName(c)
		caps = slices.DeleteFunc(caps, func(x string) bool { return x == n })
	}
	return caps
}

func (o *Options) env() []string {
	env := slices.Clone(o.Env)
	has := func(k string) bool {
		return slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
	}
	if !has("PATH") {
		env = append(env, defaultPath)
	}
	if o.Terminal && !has("TERM") {
		env = append(env, "TERM=xterm")
	}
	return env
}

func (o *Options) namespaces() []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
	for _, n := range []struct {
		t specs.LinuxNamespaceType
		p string
	}{{specs.IPCNamespace, o.Namespaces.IPC}, {specs.UTSNamespace, o.Namespaces.UTS}} {
		if n.p != HostNamespace {
			ns = append(ns, specs.LinuxNamespace{Type: n.t, Path: n.p})
		}
	}
	ns = append(ns, specs.LinuxNamespace{Type: specs.MountNamespace})
	if o.Namespaces.Net != HostNamespace {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.Namespaces.Net})
	}
	return ns
}

// mounts returns the default mounts, minus those a user mount replaces, then the user's binds,
// parents before children so that a bind into a volume lands inside it.
func (o *Options) mounts() []specs.Mount {
	sysMode := "ro"
	if o.Privileged {
		sysMode = "rw"
	}
	defaults := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", sysMode}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", sysMode}},
	}
	user := map[string]bool{}
	for _, m := range o.Mounts {
		user[path.Clean(m.Destination)] = true
	}
	var out []specs.Mount
	for _, m := range defaults {
		if !user[m.Destination] {
			out = append(out, m)
		}
	}
	binds := slices.Clone(o.Mounts)
	sort.SliceStable(binds, func(i, j int) bool { return depth(binds[i].Destination) < depth(binds[j].Destination) })
	for _, m := range binds {
		mode := "rw"
		if m.Readonly {
			mode = "ro"
		}
		out = append(out, specs.Mount{Destination: path.Clean(m.Destination), Type: "bind", Source: m.Source,
			Options: []string{"rbind", "rprivate", mode}})
	}
	return out
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

type devNode struct {
	path         string
	major, minor int64
}

// stdDevices are the nodes every container's /dev gets; /dev/ptmx is the executor's symlink to
// pts/ptmx (runc makes it too), /dev/console is the shim's pty when there is one.
var stdDevices = []devNode{
	{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
	{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
}

func defaultDevices() []specs.LinuxDevice {
	out := make([]specs.LinuxDevice, 0, len(stdDevices))
	for _, d := range stdDevices {
		mode := os.FileMode(0o666)
		var id uint32
		out = append(out, specs.LinuxDevice{Path: d.path, Type: "c", Major: d.major, Minor: d.minor,
			FileMode: &mode, UID: &id, GID: &id})
	}
	return out
}

func i64(v int64) *int64 { return &v }

func (o *Options) resources() *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if o.Privileged {
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		// Deny everything, then what the standard nodes, pts and mknod of any node need.
		r.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		r.Devices = append(r.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "m"},
			specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"})
		for _, d := range stdDevices {
			r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(d.major), Minor: i64(d.minor), Access: "rwm"})
		}
		r.Devices = append(r.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(5), Minor: i64(1), Access: "rwm"}, // console
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"}, // ptmx
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(136), Access: "rwm"})              // pts/*
	}
	res := o.Resources
	if res.MemoryLimit > 0 {
		r.Memory = &specs.LinuxMemory{Limit: i64(res.MemoryLimit)}
	}
	shares := uint64(minShares)
	if res.CPURequestMilli > 0 {
		shares = uint64(res.CPURequestMilli) * 1024 / 1000
		shares = min(max(shares, minShares), maxShares)
	}
	r.CPU = &specs.LinuxCPU{Shares: &shares}
	if res.CPULimitMilli > 0 {
		quota := max(res.CPULimitMilli*cpuPeriod/1000, minQuota)
		period := uint64(cpuPeriod)
		r.CPU.Quota, r.CPU.Period = &quota, &period
	}
	if res.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: i64(res.PidsLimit)}
	}
	return r
}
