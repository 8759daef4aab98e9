package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Figure (c): requests per second to nginx through its pod IP, its ClusterIP and its NodePort.
//
// This machine's speed is not steady: a fixed CPU loop timed in 100 ms slices varied by a
// factor of two from slice to slice (standard deviation 22-25%, 2026-12-07), so that runs of
// seconds per target, one after the other, differed by ±12-15% where the goal's margin is 3%.
// The targets are therefore measured in short slices that alternate all the time, under one
// steady load whose clients keep their connections to every target open: whatever the
// machine does over a round of slices weighs on every target alike, and the per-round
// ratios to the pod IP average out over hundreds of rounds. The pod IP compared with itself
// this way gave 99.9% and 100.1%. The ratio still drifts over minutes, which the interval's
// batch means take into account (estimateRatio).

// The clients of figure (c): the node itself (its DNAT happens in the output hook, and the
// kernel routes every packet again after it) and a pod (DNAT in prerouting, before the one
// routing decision), the usual client of a ClusterIP.
const (
	fromNode = "from the node"
	fromPod  = "from a pod"
)

var httpClients = []string{fromPod, fromNode}

// httpTargets are figure (c)'s targets; the first is the one the others are compared with.
var httpTargets = []string{tgtPod, tgtClusterIP, tgtNodePort}

// httpModes are figure (c)'s two ways of sending requests, in the order the table shows them.
var httpModes = []string{connNew, connKeep}

func httpKey(client, mode, target string) string { return client + ", " + mode + ", " + target }

// isHTTPGoal says whether the client and mode are those the goal is read on: a pod, the usual
// client of a ClusterIP, on kept-alive connections, as wrk and hey measure by default.
func isHTTPGoal(client, mode string) bool { return client == fromPod && mode == connKeep }

const (
	// altSlice is how long one target takes the load before the next: short enough that the
	// machine's speed changes little within a round of slices (adjacent slices were alike far
	// more often than slices a second apart).
	altSlice = 20 * time.Millisecond
	// altSettle passes after each switch before counting starts: requests sent to the
	// previous target are still under way then.
	altSettle = 2 * time.Millisecond
	// altWarmup opens the clients' connections and lets nginx's workers settle; not counted.
	altWarmup = time.Second
)

// httpFigures are one target's figures for one client and mode.
type httpFigures struct {
	rps   float64       // requests completed in the target's slices over their total length
	p99   time.Duration // of every counted request
	ratio ratioEstimate // against the pod IP; zero for the pod IP itself
}

// ratioEstimate is the geometric mean of per-round ratios with its 95% confidence interval.
type ratioEstimate struct {
	mean, lo, hi float64
	rounds       int
}

// ratioBatches is how many runs of consecutive rounds the interval is computed from, and
// ratioT the t quantile for 95% with ratioBatches-1 degrees of freedom. Rounds are not
// independent: the machine's speed also drifts over seconds, and ten-second runs of the same
// two targets differed by more than an interval taken over single rounds allowed.
const (
	ratioBatches = 10
	ratioT       = 2.262
)

// estimateRatio summarizes per-round ratios: the geometric mean (ratios multiply, and a round
// at half speed for one target is as far off as one at double speed for the other), and the
// 95% interval from the means of ratioBatches runs of consecutive rounds (batch means).
func estimateRatio(r []float64) ratioEstimate {
	if len(r) < 2*ratioBatches {
		return ratioEstimate{rounds: len(r)}
	}
	logs := make([]float64, len(r))
	for i, v := range r {
		logs[i] = math.Log(v)
	}
	means := make([]float64, ratioBatches)
	for b := range means {
		part := logs[b*len(logs)/ratioBatches : (b+1)*len(logs)/ratioBatches]
		means[b] = meanOf(part)
	}
	mean := meanOf(logs)
	var ss float64
	for _, m := range means {
		ss += (m - mean) * (m - mean)
	}
	se := math.Sqrt(ss/float64(ratioBatches-1)) / math.Sqrt(ratioBatches)
	return ratioEstimate{mean: math.Exp(mean), lo: math.Exp(mean - ratioT*se), hi: math.Exp(mean + ratioT*se), rounds: len(r)}
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// verdict says whether the estimate shows a ratio of at least goal: met when the whole
// interval is at or above it, not met when the whole interval is below it.
func (e ratioEstimate) verdict(goal float64) string {
	switch {
	case e.mean == 0:
		return "not measured"
	case e.lo >= goal:
		return "met"
	case e.hi < goal:
		return "not met"
	}
	return "not shown"
}

func (e ratioEstimate) String() string {
	if e.mean == 0 {
		return fmt.Sprintf("too few rounds: %d", e.rounds)
	}
	return fmt.Sprintf("%.1f%% of direct, 95%% CI %.1f–%.1f%%, %d rounds", 100*e.mean, 100*e.lo, 100*e.hi, e.rounds)
}

// httpFigures runs (c) from every client in every mode for o.httpDur each and fills f.http.
func (n *svcNode) httpFigures(ctx context.Context, o svcOptions, addrs map[string]string, f *svcFigures) error {
	podDial, closeNS, err := nsDialer(n.clientNetns, benchDialer)
	if err != nil {
		return err
	}
	defer closeNS()
	dials := map[string]dialFunc{fromNode: benchDialer.DialContext, fromPod: podDial}
	urls := make([]string, len(httpTargets))
	for i, t := range httpTargets {
		urls[i] = "http://" + addrs[t] + "/"
	}
	for _, client := range httpClients {
		for _, mode := range httpModes {
			if o.httpOnly && !isHTTPGoal(client, mode) {
				continue
			}
			flushConntrack()
			res, err := alternate(ctx, altLoad{urls: urls, mode: mode, workers: o.workers, dur: o.httpDur, dial: dials[client]})
			if err != nil {
				return fmt.Errorf("(c) %s, %s: %w", client, mode, err)
			}
			if res.failures > 0 {
				// Reported, not fatal: a few timeouts in minutes of load are the machine's.
				fmt.Fprintf(os.Stderr, "bench: services: (c) %s, %s: %d requests failed, first: %v\n", client, mode, res.failures, res.firstErr)
			}
			for i, t := range httpTargets {
				h := httpFigures{rps: res.rps(i), p99: percentiles(res.lat[i]).p99}
				if i > 0 {
					h.ratio = estimateRatio(res.ratios(i, 0))
				}
				f.http[httpKey(client, mode, t)] = h
			}
		}
	}
	return nil
}

// altLoad is one client's and mode's run of (c).
type altLoad struct {
	urls    []string // the targets; the first is the one the others are compared with
	mode    string   // connNew or connKeep
	workers int
	dur     time.Duration
	dial    dialFunc
}

// altResult holds what alternate counted: per round and target, requests and seconds
// (each target has two slices a round), and per target the latency of every counted request.
type altResult struct {
	count    [][]int64
	secs     [][]float64
	lat      [][]time.Duration
	failures int64 // requests that failed, the first with firstErr
	firstErr error
}

func (r altResult) rps(t int) float64 {
	var n int64
	var s float64
	for i := range r.count {
		n += r.count[i][t]
		s += r.secs[i][t]
	}
	return float64(n) / s
}

// ratios are target t's requests per second over base's, round by round.
func (r altResult) ratios(t, base int) []float64 {
	out := make([]float64, 0, len(r.count))
	for i := range r.count {
		if r.count[i][base] == 0 || r.count[i][t] == 0 {
			continue // a round without requests to one target says nothing about the ratio
		}
		out = append(out, (float64(r.count[i][t])/r.secs[i][t])/(float64(r.count[i][base])/r.secs[i][base]))
	}
	return out
}

// altWindow is one slice: the target every request started in it goes to, and whether
// requests that complete now are counted.
type altWindow struct {
	target   int
	counting atomic.Bool
	count    atomic.Int64
}

// altOrders are the slice orders of successive rounds for k targets: every permutation of the
// targets, in lexicographic order, followed by its mirror (A B C C B A, A C B B C A, B A C C A B,
// ...). The mirror makes a steady drift of the machine's speed over a round weigh on every
// target alike; going through all permutations makes every target follow every other about
// equally often, so that what a slice leaves behind (caches, connections in flight) does not
// favour one target. Rotations alone (A B C, B C A, C A B) did not: with three targets the pod
// IP then followed the NodePort half of the time and the ClusterIP a third.
func altOrders(k int) [][]int {
	var perms [][]int
	var walk func(prefix, rest []int)
	walk = func(prefix, rest []int) {
		if len(rest) == 0 {
			back := slices.Clone(prefix)
			slices.Reverse(back)
			perms = append(perms, append(slices.Clone(prefix), back...))
			return
		}
		for i, t := range rest {
			others := append(slices.Clone(rest[:i]), rest[i+1:]...)
			walk(append(slices.Clone(prefix), t), others)
		}
	}
	all := make([]int, k)
	for i := range all {
		all[i] = i
	}
	walk(nil, all)
	return perms
}

// alternate runs l.workers clients that send requests without pause for l.dur, each to the
// target of the current slice. Rounds of slices of altSlice follow altOrders. A request counts
// for the slice it was sent in if it completes while that slice is counting.
func alternate(ctx context.Context, l altLoad) (altResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	k := len(l.urls)
	clients := make([]*http.Client, k)
	for i := range clients {
		tr := &http.Transport{DisableKeepAlives: l.mode == connNew, MaxIdleConnsPerHost: l.workers, DialContext: l.dial}
		defer tr.CloseIdleConnections()
		clients[i] = &http.Client{Timeout: 5 * time.Second, Transport: tr}
	}
	var cur atomic.Pointer[altWindow]
	cur.Store(&altWindow{})
	lats := make([][][]time.Duration, l.workers)
	var failures atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < l.workers; w++ {
		lats[w] = make([][]time.Duration, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				win := cur.Load()
				start := time.Now()
				if err := getOnce(ctx, clients[win.target], l.urls[win.target]); err != nil {
					if ctx.Err() == nil {
						failures.Add(1)
						once.Do(func() { firstErr = err })
					}
					continue
				}
				if win.counting.Load() {
					win.count.Add(1)
					lats[w][win.target] = append(lats[w][win.target], time.Since(start))
				}
			}
		}()
	}
	var res altResult
	slice := func(t int) (int64, float64) {
		win := &altWindow{target: t}
		cur.Store(win)
		time.Sleep(altSettle)
		win.counting.Store(true)
		start := time.Now()
		time.Sleep(altSlice)
		win.counting.Store(false)
		return win.count.Load(), time.Since(start).Seconds()
	}
	time.Sleep(altWarmup)
	end := time.Now().Add(l.dur)
	orders := altOrders(k)
	for round := 0; time.Now().Before(end) && ctx.Err() == nil; round++ {
		count, secs := make([]int64, k), make([]float64, k)
		for _, t := range orders[round%len(orders)] {
			c, s := slice(t)
			count[t] += c
			secs[t] += s
		}
		res.count, res.secs = append(res.count, count), append(res.secs, secs)
	}
	cancel()
	wg.Wait()
	res.lat = make([][]time.Duration, k)
	for _, wl := range lats {
		for t := range wl {
			res.lat[t] = append(res.lat[t], wl[t]...)
		}
	}
	res.failures, res.firstErr = failures.Load(), firstErr
	var err error
	for t := range k {
		if len(res.lat[t]) == 0 {
			err = errors.Join(err, fmt.Errorf("no request to %s completed", l.urls[t]))
		}
	}
	return res, err
}
