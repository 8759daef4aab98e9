package shim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/runtime/shim/proc"
)

// A rotated log as the shim leaves it: 0.log.2 (oldest), 0.log.1, then 0.log.
var logFixture = map[string]string{
	"0.log.2": "2024-01-02T15:04:01.000000000Z stdout F one\n" +
		"2024-01-02T15:04:02.000000000Z stderr F two\n",
	"0.log.1": "2024-01-02T15:04:03.500000000Z stdout P thr\n" +
		"2024-01-02T15:04:03.500000000Z stdout F ee\n" +
		"not a record\n",
	"0.log": "2024-01-02T15:04:04.000000000Z stderr F four\n" +
		"2024-01-02T15:04:05.123456789Z stdout F five\n",
}

func writeFixture(t *testing.T) string {
	dir := t.TempDir()
	for name, content := range logFixture {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "0.log")
}

func i64(n int64) *int64 { return &n }

func TestReadLog(t *testing.T) {
	tests := []struct {
		name       string
		o          LogOptions
		wantStdout string
		wantStderr string
	}{
		{"all", LogOptions{}, "one\nthree\nfive\n", "two\nfour\n"},
		{"timestamps", LogOptions{Timestamps: true},
			"2024-01-02T15:04:01Z one\n2024-01-02T15:04:03.5Z thr2024-01-02T15:04:03.5Z ee\n2024-01-02T15:04:05.123456789Z five\n",
			"2024-01-02T15:04:02Z two\n2024-01-02T15:04:04Z four\n"},
		{"tail 2", LogOptions{TailLines: i64(2)}, "five\n", "four\n"},
		{"tail 3 counts records", LogOptions{TailLines: i64(3)}, "ee\nfive\n", "four\n"},
		{"tail 0", LogOptions{TailLines: i64(0)}, "", ""},
		{"tail beyond", LogOptions{TailLines: i64(100)}, "one\nthree\nfive\n", "two\nfour\n"},
		{"since", LogOptions{Since: time.Date(2024, 1, 2, 15, 4, 3, 0, time.UTC)}, "three\nfive\n", "four\n"},
		{"since exact", LogOptions{Since: time.Date(2024, 1, 2, 15, 4, 4, 0, time.UTC)}, "five\n", "four\n"},
		{"stdout", LogOptions{Stream: "stdout"}, "one\nthree\nfive\n", ""},
		{"stderr tail 1", LogOptions{Stream: "stderr", TailLines: i64(1)}, "", "four\n"},
		{"limit bytes", LogOptions{LimitBytes: i64(6)}, "one\n", "tw"},
		{"since and tail", LogOptions{Since: time.Date(2024, 1, 2, 15, 4, 2, 0, time.UTC), TailLines: i64(2), Stream: "stderr"}, "", "two\nfour\n"},
	}
	path := writeFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := ReadLog(context.Background(), path, tt.o, &out, &errb); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.wantStdout || errb.String() != tt.wantStderr {
				t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestReadLogMissing(t *testing.T) {
	err := ReadLog(context.Background(), filepath.Join(t.TempDir(), "0.log"), LogOptions{}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !os.IsNotExist(errorsUnwrapAll(err)) {
		t.Fatalf("ReadLog of a missing log = %v, want not-exist", err)
	}
}

func errorsUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestReadLogFollow follows a log while it is written and rotated, as the shim does, and stops
// when the container is done.
func TestReadLogFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	// 43-byte records, two per file: every second record rotates.
	lw, err := proc.OpenLog(path, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer lw.Close()
	ts := time.Date(2024, 1, 2, 15, 4, 5, 0, time.UTC)
	lw.Record(ts, "stdout", false, []byte("00"))
	lw.Record(ts, "stdout", false, []byte("01"))
	lw.Record(ts, "stdout", false, []byte("02"))

	out := &syncBuffer{}
	done := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		ended <- ReadLog(context.Background(), path, LogOptions{Follow: true, Done: done, TailLines: i64(2)}, out, out)
	}()
	waitFor(t, "the tail", func() bool { return out.String() == "01\n02\n" })
	var want strings.Builder
	want.WriteString("01\n02\n")
	for i := 3; i < 12; i++ {
		line := []byte{byte('0' + i/10), byte('0' + i%10)}
		lw.Record(ts, "stdout", i%3 == 0, line)
		want.Write(line)
		if i%3 != 0 {
			want.WriteByte('\n')
		}
		if i%2 == 0 {
			// Let the reader see some records one at a time, others in bursts.
			w := want.String()
			waitFor(t, "record "+string(line), func() bool { return out.String() == w })
		}
	}
	lw.Record(ts, "stderr", false, []byte("last"))
	want.WriteString("last\n")
	close(done)
	select {
	case err := <-ended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after done")
	}
	if out.String() != want.String() {
		t.Errorf("followed %q, want %q", out.String(), want.String())
	}
}

func TestReadLogFollowContext(t *testing.T) {
	path := writeFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	out := &syncBuffer{}
	go func() { ended <- ReadLog(ctx, path, LogOptions{Follow: true, TailLines: i64(1)}, out, out) }()
	waitFor(t, "tail", func() bool { return out.String() == "five\n" })
	cancel()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Fatalf("ReadLog = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}
