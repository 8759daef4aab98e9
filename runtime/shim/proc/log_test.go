package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 2, 15, 4, 5, 123456789, time.UTC)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLineSplitter(t *testing.T) {
	long := strings.Repeat("x", MaxLogLine)
	tests := []struct {
		name   string
		writes []string // each written at t0 + i seconds
		flush  bool
		want   string
	}{
		{"one line", []string{"hello\n"}, false,
			"2024-01-02T15:04:05.123456789Z stdout F hello\n"},
		{"two lines one write", []string{"a\nb\n"}, false,
			"2024-01-02T15:04:05.123456789Z stdout F a\n2024-01-02T15:04:05.123456789Z stdout F b\n"},
		{"empty line", []string{"\n"}, false,
			"2024-01-02T15:04:05.123456789Z stdout F \n"},
		{"line across writes takes the completing write's time", []string{"ab", "c\n"}, false,
			"2024-01-02T15:04:06.123456789Z stdout F abc\n"},
		{"unterminated line waits", []string{"abc"}, false, ""},
		{"unterminated line flushed at end", []string{"abc"}, true,
			"2024-01-02T15:04:05.123456789Z stdout F abc\n"},
		{"long line split into partials", []string{long + "yz\n"}, false,
			"2024-01-02T15:04:05.123456789Z stdout P " + long + "\n2024-01-02T15:04:05.123456789Z stdout F yz\n"},
		{"long line without newline emitted as partial when full", []string{long[:100], long[100:] + "q"}, false,
			"2024-01-02T15:04:06.123456789Z stdout P " + long + "\n"},
		{"carriage return kept", []string{"a\r\n"}, false,
			"2024-01-02T15:04:05.123456789Z stdout F a\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			l, err := OpenLog(path, 1<<30, 5)
			if err != nil {
				t.Fatal(err)
			}
			s := LineSplitter{Stream: "stdout", Log: l}
			for i, w := range tt.writes {
				s.Write(t0.Add(time.Duration(i)*time.Second), []byte(w))
			}
			if tt.flush {
				s.Flush(t0)
			}
			l.Close()
			if got := readFile(t, path); got != tt.want {
				t.Errorf("log =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	// Each record is 43 bytes ("<30-byte time> stdout F NN\n"); 100 bytes hold two.
	l, err := OpenLog(path, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 17; i++ {
		if err := l.Record(t0, "stdout", false, []byte{byte('0' + i/10), byte('0' + i%10)}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	rec := func(n ...string) string {
		var b strings.Builder
		for _, s := range n {
			b.WriteString("2024-01-02T15:04:05.123456789Z stdout F " + s + "\n")
		}
		return b.String()
	}
	want := map[string]string{
		"0.log":   rec("16"),
		"0.log.1": rec("14", "15"),
		"0.log.2": rec("12", "13"),
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(want) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files %v, want exactly %d", names, len(want))
	}
	for name, w := range want {
		if got := readFile(t, filepath.Join(dir, name)); got != w {
			t.Errorf("%s =\n%q\nwant\n%q", name, got, w)
		}
	}
}

func TestLogRotationOneFileTruncates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	l, err := OpenLog(path, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(t0, "stderr", false, []byte("aa"))
	l.Record(t0, "stderr", false, []byte("bb"))
	l.Close()
	if got, want := readFile(t, path), "2024-01-02T15:04:05.123456789Z stderr F bb\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
		t.Errorf("%s.1 exists with max files 1", path)
	}
}

func TestOOMKills(t *testing.T) {
	tests := []struct {
		file, content string
		want          int64
	}{
		{"memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n", 2},
		{"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n", 7},
		{"", "", 0},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.file != "" {
			os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644)
		}
		if got := oomKills(dir); got != tt.want {
			t.Errorf("oomKills(%s) = %d, want %d", tt.file, got, tt.want)
		}
	}
}
