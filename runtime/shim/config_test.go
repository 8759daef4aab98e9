package shim

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/podnet/podnet/runtime/shim/proc"
	"github.com/podnet/podnet/runtime/shim/wire"
)

// The daemon writes the shim's command line and the shim parses it: the two must agree.
func TestArgsRoundTrip(t *testing.T) {
	cfg := Config{ID: "id1", StateDir: "/run/p/shims/0123", LogPath: "/var/lib/p/logs/x/0.log", LogMaxBytes: 123, LogMaxFiles: 2,
		TTY: true, Stdin: true, StdinOnce: true, CloneNS: true, MemoryCgroup: "/sys/fs/cgroup/memory/podnet/x",
		Env: []string{"A=1", "B=--x"}, Argv: []string{"/proc/self/exe", "init", "run", "--bundle", "/b"}}
	got, err := proc.Parse(cfg.Args())
	if err != nil {
		t.Fatal(err)
	}
	want := proc.Options{ID: cfg.ID, StateDir: cfg.StateDir, LogPath: cfg.LogPath, LogMaxBytes: 123, LogMaxFiles: 2, TTY: true,
		Stdin: true, StdinOnce: true, CloneNS: true, MemoryCgroup: cfg.MemoryCgroup, Env: cfg.Env, Argv: cfg.Argv}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(Args) =\n%+v\nwant\n%+v", got, want)
	}
}

// The shim encodes JSON by hand; the daemon decodes it with encoding/json.
func TestWireJSON(t *testing.T) {
	at := time.Date(2024, 1, 2, 15, 4, 5, 120000000, time.UTC)
	tests := []struct {
		name string
		v    interface{ AppendJSON([]byte) []byte }
		want string
	}{
		{"exit", wire.ExitStatus{ExitCode: 137, Signal: "SIGKILL", StartedAt: at, FinishedAt: at.Add(time.Second), OOMKilled: true},
			`{"exitCode":137,"signal":"SIGKILL","startedAt":"2024-01-02T15:04:05.12Z","finishedAt":"2024-01-02T15:04:06.12Z","oomKilled":true}`},
		{"exit no signal", wire.ExitStatus{ExitCode: 3, StartedAt: at, FinishedAt: at},
			`{"exitCode":3,"startedAt":"2024-01-02T15:04:05.12Z","finishedAt":"2024-01-02T15:04:05.12Z","oomKilled":false}`},
		{"report ok", wire.Report{ShimPid: 10, ChildPid: 11}, `{"shimPid":10,"childPid":11}`},
		{"report error", wire.Report{Error: "exec: \"x\"\tnot\\found\x01é"}, `{"error":"exec: \"x\"\u0009not\\found\u0001é"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.v.AppendJSON(nil))
			if got != tt.want {
				t.Errorf("AppendJSON = %s, want %s", got, tt.want)
			}
			// encoding/json reads back the same value.
			back := reflect.New(reflect.TypeOf(tt.v))
			if err := json.Unmarshal([]byte(got), back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), tt.v) {
				t.Errorf("round trip %+v, want %+v", back.Elem().Interface(), tt.v)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	long := "/" + string(make([]byte, 0)) + "tmp/" + string(repeat('d', 100))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{ID: "a", StateDir: "/s", LogPath: "/l", Argv: []string{"x"}}, ""},
		{"everything wrong", Config{StateDir: "s", LogPath: "", MemoryCgroup: "m", LogMaxBytes: -1, LogMaxFiles: -1, StdinOnce: true, Env: []string{"A"}},
			"id is empty\nstate dir \"s\" is not an absolute path\nlog path \"\" is not an absolute path\nmemory cgroup \"m\" is not an absolute path\n" +
				"log max bytes -1 is negative\nlog max files -1 is below 1\nstdin-once needs stdin\nenv \"A\" is not KEY=VALUE\nargv is empty"},
		{"socket path too long", Config{ID: "a", StateDir: long, LogPath: "/l", Argv: []string{"x"}},
			"state dir \"" + long + "\" is too long for a unix socket path (117 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			c.setDefaults()
			err := c.validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("validate =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
