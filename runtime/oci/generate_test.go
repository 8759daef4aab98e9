package oci

import (
	"encoding/json"
	"testing"
)

// sections returns the spec's top-level fields as compact JSON with sorted keys, so that
// expectations can name only the fields a case is about.
func sections(t *testing.T, o Options) map[string]string {
	t.Helper()
	s, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		c, err := json.Marshal(v) // maps marshal with sorted keys
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(c)
	}
	return out
}

func TestGenerate(t *testing.T) {
	oom := 500
	tests := []struct {
		name string
		o    Options
		want map[string]string
	}{
		{
			name: "plain",
			o:    plainOptions(),
			want: map[string]string{
				"process":    `{"args":["nginx","-g","daemon off;"],"capabilities":{"bounding":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],"effective":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],"permitted":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]},"cwd":"/srv","env":["NGINX_VERSION=1.22","PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"rlimits":[{"hard":1048576,"soft":1048576,"type":"RLIMIT_NOFILE"}],"user":{"additionalGids":[5],"gid":101,"uid":101}}`,
				"root":       `{"path":"rootfs"}`,
				"hostname":   `"web"`,
				"mounts":     `[{"destination":"/proc","options":["nosuid","noexec","nodev"],"source":"proc","type":"proc"},{"destination":"/dev","options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"},{"destination":"/dev/pts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"],"source":"devpts","type":"devpts"},{"destination":"/dev/mqueue","options":["nosuid","noexec","nodev"],"source":"mqueue","type":"mqueue"},{"destination":"/sys","options":["nosuid","noexec","nodev","ro"],"source":"sysfs","type":"sysfs"},{"destination":"/sys/fs/cgroup","options":["nosuid","noexec","nodev","relatime","ro"],"source":"cgroup","type":"cgroup"},{"destination":"/srv/data","options":["rbind","rprivate","rw"],"source":"/var/lib/podnet/pods/u1/volumes/data","type":"bind"},{"destination":"/etc/hosts","options":["rbind","rprivate","rw"],"source":"/var/lib/podnet/pods/u1/hosts","type":"bind"},{"destination":"/etc/resolv.conf","options":["rbind","rprivate","ro"],"source":"/var/lib/podnet/pods/u1/resolv.conf","type":"bind"},{"destination":"/dev/shm","options":["rbind","rprivate","rw"],"source":"/var/lib/podnet/pods/u1/shm","type":"bind"}]`,
				"linux":      `{"cgroupsPath":"/podnet/n1/podu1/c1","devices":[{"fileMode":438,"gid":0,"major":1,"minor":3,"path":"/dev/null","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":5,"path":"/dev/zero","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":7,"path":"/dev/full","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":8,"path":"/dev/random","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":9,"path":"/dev/urandom","type":"c","uid":0},{"fileMode":438,"gid":0,"major":5,"minor":0,"path":"/dev/tty","type":"c","uid":0}],"maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/proc/interrupts","/sys/firmware","/sys/devices/virtual/powercap"],"namespaces":[{"type":"pid"},{"path":"/run/podnet/ns/p1/ipc","type":"ipc"},{"path":"/run/podnet/ns/p1/uts","type":"uts"},{"type":"mount"},{"path":"/run/podnet/ns/p1/net","type":"network"}],"readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"],"resources":{"cpu":{"shares":2},"devices":[{"access":"rwm","allow":false},{"access":"m","allow":true,"type":"c"},{"access":"m","allow":true,"type":"b"},{"access":"rwm","allow":true,"major":1,"minor":3,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":5,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":7,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":8,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":9,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":0,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":1,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":2,"type":"c"},{"access":"rwm","allow":true,"major":136,"type":"c"}]}}`,
				"ociVersion": `"1.3.0"`,
			},
		},
		{
			name: "caps add and drop",
			o:    Options{Args: []string{"sh"}, CapAdd: []string{"NET_ADMIN", "sys_time", "CAP_KILL"}, CapDrop: []string{"MKNOD", "NET_RAW", "KILL"}},
			want: map[string]string{
				"process": `{"args":["sh"],"capabilities":{"bounding":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_AUDIT_WRITE","CAP_NET_ADMIN","CAP_SYS_TIME"],"effective":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_AUDIT_WRITE","CAP_NET_ADMIN","CAP_SYS_TIME"],"permitted":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_AUDIT_WRITE","CAP_NET_ADMIN","CAP_SYS_TIME"]},"cwd":"/","env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"rlimits":[{"hard":1048576,"soft":1048576,"type":"RLIMIT_NOFILE"}],"user":{"gid":0,"uid":0}}`,
				"mounts":  `[{"destination":"/proc","options":["nosuid","noexec","nodev"],"source":"proc","type":"proc"},{"destination":"/dev","options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"},{"destination":"/dev/pts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"],"source":"devpts","type":"devpts"},{"destination":"/dev/shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"],"source":"shm","type":"tmpfs"},{"destination":"/dev/mqueue","options":["nosuid","noexec","nodev"],"source":"mqueue","type":"mqueue"},{"destination":"/sys","options":["nosuid","noexec","nodev","ro"],"source":"sysfs","type":"sysfs"},{"destination":"/sys/fs/cgroup","options":["nosuid","noexec","nodev","relatime","ro"],"source":"cgroup","type":"cgroup"}]`,
				"linux":   `{"devices":[{"fileMode":438,"gid":0,"major":1,"minor":3,"path":"/dev/null","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":5,"path":"/dev/zero","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":7,"path":"/dev/full","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":8,"path":"/dev/random","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":9,"path":"/dev/urandom","type":"c","uid":0},{"fileMode":438,"gid":0,"major":5,"minor":0,"path":"/dev/tty","type":"c","uid":0}],"maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/proc/interrupts","/sys/firmware","/sys/devices/virtual/powercap"],"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}],"readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"],"resources":{"cpu":{"shares":2},"devices":[{"access":"rwm","allow":false},{"access":"m","allow":true,"type":"c"},{"access":"m","allow":true,"type":"b"},{"access":"rwm","allow":true,"major":1,"minor":3,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":5,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":7,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":8,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":9,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":0,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":1,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":2,"type":"c"},{"access":"rwm","allow":true,"major":136,"type":"c"}]}}`,
			},
		},
		{
			name: "drop ALL add one",
			o:    Options{Args: []string{"sh"}, CapDrop: []string{"ALL"}, CapAdd: []string{"NET_BIND_SERVICE"}},
			want: map[string]string{
				"process": `{"args":["sh"],"capabilities":{"bounding":["CAP_NET_BIND_SERVICE"],"effective":["CAP_NET_BIND_SERVICE"],"permitted":["CAP_NET_BIND_SERVICE"]},"cwd":"/","env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"rlimits":[{"hard":1048576,"soft":1048576,"type":"RLIMIT_NOFILE"}],"user":{"gid":0,"uid":0}}`,
				"mounts":  `[{"destination":"/proc","options":["nosuid","noexec","nodev"],"source":"proc","type":"proc"},{"destination":"/dev","options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"},{"destination":"/dev/pts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"],"source":"devpts","type":"devpts"},{"destination":"/dev/shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"],"source":"shm","type":"tmpfs"},{"destination":"/dev/mqueue","options":["nosuid","noexec","nodev"],"source":"mqueue","type":"mqueue"},{"destination":"/sys","options":["nosuid","noexec","nodev","ro"],"source":"sysfs","type":"sysfs"},{"destination":"/sys/fs/cgroup","options":["nosuid","noexec","nodev","relatime","ro"],"source":"cgroup","type":"cgroup"}]`,
				"linux":   `{"devices":[{"fileMode":438,"gid":0,"major":1,"minor":3,"path":"/dev/null","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":5,"path":"/dev/zero","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":7,"path":"/dev/full","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":8,"path":"/dev/random","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":9,"path":"/dev/urandom","type":"c","uid":0},{"fileMode":438,"gid":0,"major":5,"minor":0,"path":"/dev/tty","type":"c","uid":0}],"maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/proc/interrupts","/sys/firmware","/sys/devices/virtual/powercap"],"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}],"readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"],"resources":{"cpu":{"shares":2},"devices":[{"access":"rwm","allow":false},{"access":"m","allow":true,"type":"c"},{"access":"m","allow":true,"type":"b"},{"access":"rwm","allow":true,"major":1,"minor":3,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":5,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":7,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":8,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":9,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":0,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":1,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":2,"type":"c"},{"access":"rwm","allow":true,"major":136,"type":"c"}]}}`,
			},
		},
		{
			name: "privileged host network",
			o:    Options{Args: []string{"sh"}, Privileged: true, Seccomp: SeccompRuntimeDefault, Namespaces: Namespaces{Net: HostNamespace}},
			want: map[string]string{
				"process": `{"args":["sh"],"capabilities":{"bounding":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE","CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM","CAP_BLOCK_SUSPEND","CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF","CAP_CHECKPOINT_RESTORE"],"effective":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE","CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM","CAP_BLOCK_SUSPEND","CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF","CAP_CHECKPOINT_RESTORE"],"permitted":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE","CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM","CAP_BLOCK_SUSPEND","CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF","CAP_CHECKPOINT_RESTORE"]},"cwd":"/","env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"rlimits":[{"hard":1048576,"soft":1048576,"type":"RLIMIT_NOFILE"}],"user":{"gid":0,"uid":0}}`,
				"mounts":  `[{"destination":"/proc","options":["nosuid","noexec","nodev"],"source":"proc","type":"proc"},{"destination":"/dev","options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"},{"destination":"/dev/pts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"],"source":"devpts","type":"devpts"},{"destination":"/dev/shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"],"source":"shm","type":"tmpfs"},{"destination":"/dev/mqueue","options":["nosuid","noexec","nodev"],"source":"mqueue","type":"mqueue"},{"destination":"/sys","options":["nosuid","noexec","nodev","rw"],"source":"sysfs","type":"sysfs"},{"destination":"/sys/fs/cgroup","options":["nosuid","noexec","nodev","relatime","rw"],"source":"cgroup","type":"cgroup"}]`,
				"linux":   `{"devices":[{"fileMode":438,"gid":0,"major":1,"minor":3,"path":"/dev/null","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":5,"path":"/dev/zero","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":7,"path":"/dev/full","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":8,"path":"/dev/random","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":9,"path":"/dev/urandom","type":"c","uid":0},{"fileMode":438,"gid":0,"major":5,"minor":0,"path":"/dev/tty","type":"c","uid":0}],"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}],"resources":{"cpu":{"shares":2},"devices":[{"access":"rwm","allow":true}]}}`,
			},
		},
		{
			name: "resources",
			o:    Options{Args: []string{"sh"}, Resources: Resources{MemoryLimit: 64 << 20, CPULimitMilli: 250, CPURequestMilli: 100, PidsLimit: 100}, OOMScoreAdj: &oom},
			want: map[string]string{
				"process": `{"args":["sh"],"capabilities":{"bounding":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],"effective":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"],"permitted":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]},"cwd":"/","env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"oomScoreAdj":500,"rlimits":[{"hard":1048576,"soft":1048576,"type":"RLIMIT_NOFILE"}],"user":{"gid":0,"uid":0}}`,
				"mounts":  `[{"destination":"/proc","options":["nosuid","noexec","nodev"],"source":"proc","type":"proc"},{"destination":"/dev","options":["nosuid","strictatime","mode=755","size=65536k"],"source":"tmpfs","type":"tmpfs"},{"destination":"/dev/pts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"],"source":"devpts","type":"devpts"},{"destination":"/dev/shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"],"source":"shm","type":"tmpfs"},{"destination":"/dev/mqueue","options":["nosuid","noexec","nodev"],"source":"mqueue","type":"mqueue"},{"destination":"/sys","options":["nosuid","noexec","nodev","ro"],"source":"sysfs","type":"sysfs"},{"destination":"/sys/fs/cgroup","options":["nosuid","noexec","nodev","relatime","ro"],"source":"cgroup","type":"cgroup"}]`,
				"linux":   `{"devices":[{"fileMode":438,"gid":0,"major":1,"minor":3,"path":"/dev/null","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":5,"path":"/dev/zero","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":7,"path":"/dev/full","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":8,"path":"/dev/random","type":"c","uid":0},{"fileMode":438,"gid":0,"major":1,"minor":9,"path":"/dev/urandom","type":"c","uid":0},{"fileMode":438,"gid":0,"major":5,"minor":0,"path":"/dev/tty","type":"c","uid":0}],"maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/proc/interrupts","/sys/firmware","/sys/devices/virtual/powercap"],"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}],"readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"],"resources":{"cpu":{"period":100000,"quota":25000,"shares":102},"devices":[{"access":"rwm","allow":false},{"access":"m","allow":true,"type":"c"},{"access":"m","allow":true,"type":"b"},{"access":"rwm","allow":true,"major":1,"minor":3,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":5,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":7,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":8,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":9,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":0,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":1,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":2,"type":"c"},{"access":"rwm","allow":true,"major":136,"type":"c"}],"memory":{"limit":67108864},"pids":{"limit":100}}}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sections(t, tt.o)
			if tt.name == "plain" && len(got) != len(tt.want) {
				t.Errorf("fields %v, want exactly %d", got, len(tt.want))
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s:\n got %s\nwant %s", k, got[k], want)
				}
			}
		})
	}
}
