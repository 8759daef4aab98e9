package loadbalancer

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func rng(first, last string) Range {
	return Range{First: netip.MustParseAddr(first), Last: netip.MustParseAddr(last)}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

var (
	v4   = []corev1.IPFamily{corev1.IPv4Protocol}
	v6   = []corev1.IPFamily{corev1.IPv6Protocol}
	dual = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
)

// testPools: two small IPv4 ranges (three addresses in all) and one IPv6 range of two.
func testPools() []Range {
	return []Range{rng("192.168.100.0", "192.168.100.1"), rng("192.168.100.250", "192.168.100.250"), rng("fd00::10", "fd00::11")}
}

// holdings renders the allocation as "key=addr,addr key=…" in key order.
func holdings(a *allocator) string {
	var parts []string
	for _, addr := range a.all() {
		parts = append(parts, a.owner[addr]+"="+addr.String())
	}
	return strings.Join(parts, " ")
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name  string
		pools []Range
		held  map[string][]netip.Addr
		key   string
		want  want
		out   string
	}{
		{name: "first free", key: "ns/a", want: want{families: v4, required: 1},
			out: "[192.168.100.0]"},
		{name: "skips taken, continues in the next pool", key: "ns/c", want: want{families: v4, required: 1},
			held: map[string][]netip.Addr{"ns/a": addrs("192.168.100.0"), "ns/b": addrs("192.168.100.1")},
			out:  "[192.168.100.250]"},
		{name: "exhausted", key: "ns/d", want: want{families: v4, required: 1},
			held: map[string][]netip.Addr{"ns/a": addrs("192.168.100.0"), "ns/b": addrs("192.168.100.1"), "ns/c": addrs("192.168.100.250")},
			out:  "error: no available IPs"},
		{name: "keeps what it holds", key: "ns/a", want: want{families: v4, required: 1},
			held: map[string][]netip.Addr{"ns/a": addrs("192.168.100.250")},
			out:  "[192.168.100.250]"},
		{name: "requested", key: "ns/a", want: want{families: v4, required: 1, requested: addrs("192.168.100.1")},
			held: map[string][]netip.Addr{"ns/a": addrs("192.168.100.0")},
			out:  "[192.168.100.1]"},
		{name: "requested outside every pool", key: "ns/a", want: want{families: v4, required: 1, requested: addrs("10.0.0.1")},
			out: `error: "10.0.0.1" is not allowed in config`},
		{name: "requested and taken", key: "ns/b", want: want{families: v4, required: 1, requested: addrs("192.168.100.0")},
			held: map[string][]netip.Addr{"ns/a": addrs("192.168.100.0")},
			out:  `error: "192.168.100.0" is already in use by ns/a`},
		{name: "IPv6 only", key: "ns/a", want: want{families: v6, required: 1},
			out: "[fd00::10]"},
		{name: "dual-stack", key: "ns/a", want: want{families: dual, required: 2},
			out: "[192.168.100.0 fd00::10]"},
		{name: "required second family exhausted", key: "ns/c", want: want{families: dual, required: 2},
			held: map[string][]netip.Addr{"ns/a": addrs("fd00::10"), "ns/b": addrs("fd00::11")},
			out:  "error: no available IPs"},
		{name: "preferred second family exhausted", key: "ns/c", want: want{families: dual, required: 1},
			held: map[string][]netip.Addr{"ns/a": addrs("fd00::10"), "ns/b": addrs("fd00::11")},
			out:  "[192.168.100.0]"},
		{name: "no pool of the family", key: "ns/a", pools: []Range{rng("192.168.100.0", "192.168.100.1")},
			want: want{families: v6, required: 1}, out: "error: no available IPs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pools := tt.pools
			if pools == nil {
				pools = testPools()
			}
			a := newAllocator(pools)
			for k, v := range tt.held {
				a.set(k, v)
			}
			before := holdings(a)
			got, err := a.plan(tt.key, tt.want)
			out := fmt.Sprint(got)
			if err != nil {
				out = "error: " + err.Error()
			}
			if out != tt.out {
				t.Errorf("plan = %s, want %s", out, tt.out)
			}
			if after := holdings(a); after != before {
				t.Errorf("plan changed the allocation: %s, was %s", after, before)
			}
		})
	}
}

func TestSetAndRelease(t *testing.T) {
	a := newAllocator(testPools())
	steps := []struct {
		key   string
		addrs []netip.Addr
		want  string
	}{
		{"ns/a", addrs("192.168.100.0", "fd00::10"), "ns/a=192.168.100.0 ns/a=fd00::10"},
		{"ns/b", addrs("192.168.100.1"), "ns/a=192.168.100.0 ns/b=192.168.100.1 ns/a=fd00::10"},
		{"ns/a", nil, "ns/b=192.168.100.1"},
		{"ns/c", addrs("192.168.100.0"), "ns/c=192.168.100.0 ns/b=192.168.100.1"},
		{"ns/b", addrs("192.168.100.250"), "ns/c=192.168.100.0 ns/b=192.168.100.250"},
	}
	for i, s := range steps {
		a.set(s.key, s.addrs)
		if got := holdings(a); got != s.want {
			t.Errorf("step %d: %s, want %s", i, got, s.want)
		}
	}
	if got, err := a.plan("ns/d", want{families: v4, required: 1}); err != nil || fmt.Sprint(got) != "[192.168.100.1]" {
		t.Errorf("a freed address is not allocated again: %v %v", got, err)
	}
}

func TestAdopt(t *testing.T) {
	a := newAllocator(testPools())
	steps := []struct {
		key     string
		fams    []corev1.IPFamily
		status  []netip.Addr
		dropped string
	}{
		{"ns/a", v4, addrs("192.168.100.1"), "[]"},
		{"ns/b", v4, addrs("192.168.100.1"), "[192.168.100.1]"},                      // taken by the older one
		{"ns/c", v4, addrs("10.1.2.3", "192.168.100.250"), "[10.1.2.3]"},             // outside the pools now
		{"ns/d", v4, addrs("fd00::10"), "[fd00::10]"},                                // not a family of the service
		{"ns/e", dual, addrs("192.168.100.0", "fd00::11", "fd00::10"), "[fd00::10]"}, // one per family
	}
	for _, s := range steps {
		if got := fmt.Sprint(a.adopt(s.key, want{families: s.fams}, s.status)); got != s.dropped {
			t.Errorf("%s dropped %s, want %s", s.key, got, s.dropped)
		}
	}
	want := "ns/e=192.168.100.0 ns/a=192.168.100.1 ns/c=192.168.100.250 ns/e=fd00::11"
	if got := holdings(a); got != want {
		t.Errorf("allocation %s, want %s", got, want)
	}
}
