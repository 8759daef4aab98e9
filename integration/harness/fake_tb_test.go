package harness

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recordingTB stands in for the test given to the harness so that its failure reports can be
// compared as text without failing the real test. TempDir and Name go to the real test.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	reports  []string
	failed   bool
	cleanups []func()
}

func (r *recordingTB) record(failed bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, strings.TrimSuffix(msg, "\n"))
	r.failed = r.failed || failed
}

func (r *recordingTB) Helper()           {}
func (r *recordingTB) Error(args ...any) { r.record(true, fmt.Sprintln(args...)) }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.record(true, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Log(args ...any) { r.record(false, "log: "+fmt.Sprintln(args...)) }
func (r *recordingTB) Logf(format string, args ...any) {
	r.record(false, "log: "+fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatal(args ...any) { r.Error(args...); runtime.Goexit() }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Cleanup(fn func()) { r.cleanups = append(r.cleanups, fn) }
func (r *recordingTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// run calls fn as a test body on its own goroutine (Fatal ends it), then the cleanups, last first.
func (r *recordingTB) run(fn func(testing.TB)) []string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r.reports
}
