package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type latency struct{ p50, p99 time.Duration }

func percentiles(d []time.Duration) latency {
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	return latency{p50: at(0.50), p99: at(0.99)}
}

func measureLatencies(ctx context.Context, t target, o options) (map[string]latency, error) {
	// A fixed order: each figure runs against the same store size from run to run.
	ops := []struct {
		name string
		op   func(i int) error
	}{
		{"create", func(i int) error { return t.create(ctx, i) }},
		{"get", func(i int) error { return t.get(ctx, i) }},
		{"list100", func(int) error { return t.list(ctx) }},
	}
	out := map[string]latency{}
	for _, step := range ops {
		name, op := step.name, step.op
		d := make([]time.Duration, 0, o.samples)
		for i := 0; i < o.samples; i++ {
			start := time.Now()
			if err := op(i); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			d = append(d, time.Since(start))
		}
		out[name] = percentiles(d)
	}
	return out, nil
}

// throughput runs op from o.workers clients for o.dur and returns completed requests per second.
func throughput(ctx context.Context, t target, op string, o options) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.dur)
	defer cancel()
	var done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += o.workers {
				var err error
				if op == "create" {
					err = t.create(ctx, i)
				} else {
					err = t.get(ctx, i)
				}
				if err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err })
					}
					return
				}
				done.Add(1)
			}
		}(w)
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), firstErr
}

// fill creates objects until the target holds n of them (counting what earlier phases made).
func fill(ctx context.Context, t target, n, workers int) error {
	type counter interface{ created() int64 }
	have := int64(0)
	if c, ok := t.(counter); ok {
		have = c.created()
	}
	jobs := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := t.create(ctx, i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for i := have; i < int64(n); i++ {
		select {
		case jobs <- int(i):
		case err := <-errc:
			close(jobs)
			wg.Wait()
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func (p *podnet) created() int64 { return p.next.Load() }
func (e *etcd) created() int64   { return e.next.Load() }

// rssMB is the process's resident set (VmRSS), in MB.
func rssMB(pid int) float64 { return procMB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:") }

// anonMB is the process's anonymous (private, not file-backed) memory in MB: the part of RSS that
// grows with what the server holds, unlike the mapped pages of its executable and files.
func anonMB(pid int) float64 { return procMB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Anonymous:") }

// procMB reads a "Key:   1234 kB" line of a /proc file, in MB; -1 if it is not there.
func procMB(path, key string) float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// rssByMapping splits a process's RSS (from /proc/PID/smaps) into its executable's pages, its
// other files' pages (for podnet: bbolt's memory map) and anonymous memory, in MB.
func rssByMapping(pid int) (exe, files, anon float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return -1, -1, -1
	}
	self, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	var mapping string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			mapping = ""
			if len(fields) >= 6 {
				mapping = fields[5]
			}
			continue
		}
		if len(fields) == 3 && fields[0] == "Rss:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			switch {
			case mapping == self:
				exe += kb / 1024
			case strings.HasPrefix(mapping, "/"):
				files += kb / 1024
			default:
				anon += kb / 1024
			}
		}
	}
	return exe, files, anon
}
