package workqueue

import (
	"context"
	"strings"
	"testing"
	"time"
)

// drain takes every key that is ready now, marking each done.
func drain(q *Queue) string {
	var got []string
	for q.Len() > 0 {
		k, _ := q.Next(context.Background())
		got = append(got, k)
		q.Done(k)
	}
	return strings.Join(got, " ")
}

func TestQueueOrderAndDedup(t *testing.T) {
	tests := []struct {
		name string
		ops  func(q *Queue)
		want string
	}{
		{"fifo", func(q *Queue) { q.Add("a"); q.Add("b"); q.Add("c") }, "a b c"},
		{"dedup while waiting", func(q *Queue) { q.Add("a"); q.Add("b"); q.Add("a") }, "a b"},
		{"requeue while processing", func(q *Queue) {
			q.Add("a")
			k, _ := q.Next(context.Background())
			q.Add("a") // changed during its sync: must come back once, after Done
			q.Add("a")
			if q.Len() != 0 {
				t.Fatalf("key being synced was queued twice")
			}
			q.Done(k)
		}, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New()
			tt.ops(q)
			if got := drain(q); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 5 * time.Millisecond}, {1, 10 * time.Millisecond}, {3, 40 * time.Millisecond},
		{12, 20480 * time.Millisecond}, {13, 20480 * time.Millisecond}, {100, 20480 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := RetryDelay(tt.n); got != tt.want {
			t.Errorf("RetryDelay(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestRetryBacksOffAndForgetResets(t *testing.T) {
	q := New()
	q.Retry("a") // 5 ms
	q.Retry("a") // 10 ms
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin := time.Now()
	for i := 0; i < 1; i++ {
		k, ok := q.Next(ctx)
		if !ok || k != "a" {
			t.Fatalf("Next = %q %v", k, ok)
		}
		q.Done(k)
	}
	if el := time.Since(begin); el < 4*time.Millisecond {
		t.Fatalf("retry came back after %v, before its back-off", el)
	}
	q.mu.Lock()
	n := q.failures["a"]
	q.mu.Unlock()
	if n != 2 {
		t.Fatalf("failures = %d, want 2", n)
	}
	q.Forget("a")
	q.mu.Lock()
	n = q.failures["a"]
	q.mu.Unlock()
	if n != 0 {
		t.Fatalf("failures after Forget = %d, want 0", n)
	}
}

func TestNextEndsWithContext(t *testing.T) {
	q := New()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := q.Next(ctx); ok {
		t.Fatal("Next returned a key from an empty queue after ctx ended")
	}
}

func TestNextWakesParkedWorker(t *testing.T) {
	q := New()
	got := make(chan string, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		go func() {
			k, ok := q.Next(ctx)
			if ok {
				got <- k // held, not Done: the other worker must take the second key
			}
		}()
	}
	time.Sleep(10 * time.Millisecond)
	q.Add("a")
	q.Add("b")
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		select {
		case k := <-got:
			seen[k] = true
		case <-ctx.Done():
			t.Fatalf("only %v were handed out", seen)
		}
	}
}
