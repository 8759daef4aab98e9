package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEstimateRatio(t *testing.T) {
	repeat := func(n int, vs ...float64) []float64 {
		var out []float64
		for range n {
			out = append(out, vs...)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		ratios []float64
		want   string
		verd   string
	}{
		{"steady", repeat(20, 0.98), "98.0% of direct, 95% CI 98.0–98.0%, 20 rounds", "met"},
		// Half and double speed cancel in the geometric mean; each batch holds both alike.
		{"symmetric", repeat(20, 0.5, 2), "100.0% of direct, 95% CI 100.0–100.0%, 40 rounds", "met"},
		// One batch (the last 10 of 100 rounds) slower: the interval comes from the batches.
		{"drift", append(repeat(90, 1.0), repeat(10, 0.9)...), "99.0% of direct, 95% CI 96.6–101.3%, 100 rounds", "not shown"},
		{"below", repeat(40, 0.9), "90.0% of direct, 95% CI 90.0–90.0%, 40 rounds", "not met"},
		{"too few", repeat(19, 1.0), "too few rounds: 19", "not measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := estimateRatio(tc.ratios)
			if got := e.String(); got != tc.want {
				t.Errorf("estimate = %q, want %q", got, tc.want)
			}
			if got := e.verdict(0.97); got != tc.verd {
				t.Errorf("verdict = %q, want %q", got, tc.verd)
			}
		})
	}
}

func TestAltResult(t *testing.T) {
	r := altResult{
		count: [][]int64{{100, 90}, {200, 0}, {50, 60}},
		secs:  [][]float64{{0.04, 0.04}, {0.04, 0.04}, {0.04, 0.04}},
	}
	if got, want := fmt.Sprint(r.ratios(1, 0)), "[0.9 1.2]"; got != want {
		t.Errorf("ratios = %s, want %s (the round without requests to the target left out)", got, want)
	}
	if got, want := fmt.Sprintf("%.1f", r.rps(0)), "2916.7"; got != want {
		t.Errorf("rps(0) = %s, want %s", got, want)
	}
}

// TestAlternate runs the load against two local servers: every round gives both targets
// their slices, requests count for the target they were sent to, and nothing fails.
func TestAlternate(t *testing.T) {
	var hits [2]atomic.Int64
	var urls []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			fmt.Fprintln(w, "hello")
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL+"/")
	}
	for _, mode := range httpModes {
		t.Run(mode, func(t *testing.T) {
			res, err := alternate(context.Background(), altLoad{urls: urls, mode: mode, workers: 4, dur: 500 * time.Millisecond, dial: benchDialer.DialContext})
			if err != nil {
				t.Fatal(err)
			}
			if res.failures != 0 {
				t.Fatalf("%d requests failed, first: %v", res.failures, res.firstErr)
			}
			if len(res.count) < 5 {
				t.Fatalf("%d rounds in 500 ms of %s slices", len(res.count), altSlice)
			}
			for i, c := range res.count {
				if c[0] == 0 || c[1] == 0 {
					t.Errorf("round %d counted %v: a target without requests", i, c)
				}
			}
			var counted [2]int64
			for _, c := range res.count {
				counted[0], counted[1] = counted[0]+c[0], counted[1]+c[1]
			}
			for i := range counted {
				if int64(len(res.lat[i])) != counted[i] {
					t.Errorf("target %d: %d latencies for %d counted requests", i, len(res.lat[i]), counted[i])
				}
				if h := hits[i].Load(); h < counted[i] {
					t.Errorf("target %d: %d requests counted, server saw %d", i, counted[i], h)
				}
			}
		})
	}
}

// TestAltOrders checks the rounds' slice orders: all permutations, each mirrored, and over a
// cycle of rounds every target follows every other target about equally often.
func TestAltOrders(t *testing.T) {
	orders := altOrders(3)
	var got []string
	for _, o := range orders {
		got = append(got, fmt.Sprint(o))
	}
	want := "[0 1 2 2 1 0] [0 2 1 1 2 0] [1 0 2 2 0 1] [1 2 0 0 2 1] [2 0 1 1 0 2] [2 1 0 0 1 2]"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("altOrders(3) = %s, want %s", g, want)
	}
	// Transitions over one cycle of rounds, the last slice of a round to the first of the
	// next included: a target after a different one 4 or 5 times of 30, after itself 3.
	var seq []int
	for _, o := range orders {
		seq = append(seq, o...)
	}
	after := map[[2]int]int{}
	for i := range seq {
		after[[2]int{seq[i], seq[(i+1)%len(seq)]}]++
	}
	for prev := range 3 {
		for next := range 3 {
			n := after[[2]int{prev, next}]
			if (prev == next && n != 3) || (prev != next && (n < 4 || n > 5)) {
				t.Errorf("target %d follows %d %d times in a cycle", next, prev, n)
			}
		}
	}
	if got := fmt.Sprint(altOrders(2)); got != "[[0 1 1 0] [1 0 0 1]]" {
		t.Errorf("altOrders(2) = %s", got)
	}
}
