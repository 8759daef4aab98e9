package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/runtime/seccomp"
)

func TestGenerateSeccompAndTerminal(t *testing.T) {
	s, err := Generate(Options{Args: []string{"sh"}, Seccomp: SeccompRuntimeDefault, CapAdd: []string{"SYS_ADMIN"},
		Terminal: true, Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	// The profile is conditioned on the container's own capabilities: SYS_ADMIN allows mount.
	if want := seccomp.RuntimeDefault(s.Process.Capabilities.Bounding); !reflect.DeepEqual(s.Linux.Seccomp, want) {
		t.Errorf("seccomp profile is not RuntimeDefault of the container's capabilities")
	}
	mountAllowed := slices.ContainsFunc(s.Linux.Seccomp.Syscalls, func(sc specs.LinuxSyscall) bool {
		return sc.Action == specs.ActAllow && len(sc.Args) == 0 && slices.Contains(sc.Names, "mount")
	})
	if !mountAllowed {
		t.Errorf("mount not allowed with CAP_SYS_ADMIN")
	}
	if got, want := strings.Join(s.Process.Env, " "), "PATH=/bin TERM=xterm"; got != want {
		t.Errorf("env %q, want %q", got, want)
	}
	if s.Process.Terminal {
		t.Errorf("process.terminal set: the shim owns the pty")
	}
	plain, err := Generate(Options{Args: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Linux.Seccomp != nil {
		t.Errorf("seccomp set without RuntimeDefault")
	}
}

func TestValidation(t *testing.T) {
	bad := -1001
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no args", Options{}, "oci: invalid options: args: at least one is required"},
		{"many at once", Options{Args: []string{"sh"}, Cwd: "srv", Env: []string{"=x", "NOEQ"}},
			"oci: invalid options: cwd \"srv\": must be absolute\nenv[0] \"=x\": not KEY=value\nenv[1] \"NOEQ\": not KEY=value"},
		{"hostname too long", Options{Args: []string{"sh"}, Hostname: strings.Repeat("h", 65)},
			"oci: invalid options: hostname \"" + strings.Repeat("h", 65) + "\": longer than 64 bytes"},
		{"hostname in host uts", Options{Args: []string{"sh"}, Hostname: "web", Namespaces: Namespaces{UTS: HostNamespace}},
			"oci: invalid options: hostname \"web\": cannot be set in the host's UTS namespace"},
		{"relative namespace", Options{Args: []string{"sh"}, Namespaces: Namespaces{Net: "netns/p1"}},
			"oci: invalid options: namespaces.net \"netns/p1\": must be an absolute path, empty or \"host\""},
		{"mounts", Options{Args: []string{"sh"}, Mounts: []Mount{{Source: "rel", Destination: "/a"}, {Source: "/x", Destination: "b"}, {Source: "/y", Destination: "/a/"}}},
			"oci: invalid options: mounts[0]: source \"rel\" must be absolute\nmounts[1]: destination \"b\" must be absolute\nmounts[2]: destination \"/a/\" mounted twice"},
		{"caps", Options{Args: []string{"sh"}, CapAdd: []string{"NET_ADMIN", "FLY"}, CapDrop: []string{"cap_nope"}},
			"oci: invalid options: capAdd \"FLY\": unknown capability\ncapDrop \"cap_nope\": unknown capability"},
		{"seccomp", Options{Args: []string{"sh"}, Seccomp: "Localhost"},
			"oci: invalid options: seccomp \"Localhost\": unknown mode (Unconfined or RuntimeDefault)"},
		{"resources", Options{Args: []string{"sh"}, Resources: Resources{MemoryLimit: -1, PidsLimit: -2}},
			"oci: invalid options: resources.memoryLimit -1: negative\nresources.pidsLimit -2: negative"},
		{"cgroups path", Options{Args: []string{"sh"}, CgroupsPath: "podnet/x"},
			"oci: invalid options: cgroupsPath \"podnet/x\": must be absolute"},
		{"oom score", Options{Args: []string{"sh"}, OOMScoreAdj: &bad},
			"oci: invalid options: oomScoreAdj -1001: outside -1000..1000"},
		{"rlimits", Options{Args: []string{"sh"}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_FUN"}, {Type: "RLIMIT_NPROC", Soft: 2, Hard: 1}}},
			"oci: invalid options: rlimits[0]: unknown type \"RLIMIT_FUN\"\nrlimits[1] RLIMIT_NPROC: soft 2 above hard 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.o)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestWriteBundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "containers", "c1")
	s, err := Generate(plainOptions())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second write replaces the first
		if err := WriteBundle(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var back specs.Spec
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, s) {
		t.Errorf("config.json does not read back as the spec written")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != ConfigName {
		t.Errorf("bundle holds %v, want only %s (no temporary files left)", entries, ConfigName)
	}
	if err := WriteBundle(dir, nil); err == nil {
		t.Errorf("nil spec written")
	}
}
