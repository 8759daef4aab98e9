package proc

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	base := []string{"--id", "abc", "--state-dir", "/run/s", "--log", "/var/log/0.log"}
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{"defaults", append(base, "--", "/bin/sh", "-c", "--x"), Options{ID: "abc", StateDir: "/run/s", LogPath: "/var/log/0.log",
			LogMaxBytes: 10 << 20, LogMaxFiles: 5, Argv: []string{"/bin/sh", "-c", "--x"}}, ""},
		{"everything", append(base, "--log-max-bytes=100", "--log-max-files", "2", "--tty", "--stdin", "--stdin-once", "--clone-ns",
			"--memory-cgroup", "/sys/fs/cgroup/memory/x", "--env", "A=1", "--env=B=2", "--detached", "--", "cat"),
			Options{ID: "abc", StateDir: "/run/s", LogPath: "/var/log/0.log", LogMaxBytes: 100, LogMaxFiles: 2, TTY: true, Stdin: true,
				StdinOnce: true, CloneNS: true, MemoryCgroup: "/sys/fs/cgroup/memory/x", Env: []string{"A=1", "B=2"}, Detached: true,
				Argv: []string{"cat"}}, ""},
		{"bool false", append(base, "--tty=false", "--", "cat"), Options{ID: "abc", StateDir: "/run/s", LogPath: "/var/log/0.log",
			LogMaxBytes: 10 << 20, LogMaxFiles: 5, Argv: []string{"cat"}}, ""},
		{"no command", base, Options{}, "no command after --"},
		{"unknown flag", append(base, "--nope", "--", "cat"), Options{}, "unknown flag --nope"},
		{"relative state dir", []string{"--id", "a", "--state-dir", "s", "--log", "/l", "--", "cat"}, Options{}, "--state-dir must be an absolute path"},
		{"missing value", append(base, "--", "cat")[:len(base)-1], Options{}, "flag --log needs a value"},
		{"bad number", append(base, "--log-max-files", "x", "--", "cat"), Options{}, `flag --log-max-files: strconv.Atoi: parsing "x": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
