package dns

import (
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Latency buckets as CoreDNS's: 0.25 ms doubling, 16 of them.
var latencyBuckets = func() []float64 {
	b := make([]float64, 16)
	for i := range b {
		b[i] = 0.00025 * float64(uint(1)<<i)
	}
	return b
}()

// counted query types; every other type counts as "other", as in CoreDNS.
var countedTypes = []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeNS, mdns.TypePTR, mdns.TypeSRV,
	mdns.TypeTXT, mdns.TypeCNAME, mdns.TypeSOA, mdns.TypeMX, mdns.TypeHTTPS, mdns.TypeAXFR, mdns.TypeIXFR}

type metrics struct {
	byType  map[uint16]*atomic.Uint64 // fixed keys, read-only after init
	other   atomic.Uint64
	byRcode [24]atomic.Uint64
	buckets []atomic.Uint64
	count   atomic.Uint64
	sumNs   atomic.Uint64
}

func newMetrics() *metrics {
	m := &metrics{byType: map[uint16]*atomic.Uint64{}, buckets: make([]atomic.Uint64, len(latencyBuckets))}
	for _, t := range countedTypes {
		m.byType[t] = new(atomic.Uint64)
	}
	return m
}

func (m *metrics) observe(qtype uint16, rcode int, d time.Duration) {
	if c := m.byType[qtype]; c != nil {
		c.Add(1)
	} else {
		m.other.Add(1)
	}
	if rcode >= 0 && rcode < len(m.byRcode) {
		m.byRcode[rcode].Add(1)
	}
	s := d.Seconds()
	for i, b := range latencyBuckets {
		if s <= b {
			m.buckets[i].Add(1)
			break
		}
	}
	m.count.Add(1)
	m.sumNs.Add(uint64(d.Nanoseconds())) // #nosec G115 -- durations are positive
}

func (m *metrics) write(w io.Writer) {
	fmt.Fprintln(w, "# HELP podnet_dns_requests_total Counter of DNS requests made per type.")
	fmt.Fprintln(w, "# TYPE podnet_dns_requests_total counter")
	names := make([]string, 0, len(m.byType))
	vals := map[string]uint64{}
	for t, c := range m.byType {
		n := mdns.TypeToString[t]
		names = append(names, n)
		vals[n] = c.Load()
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "podnet_dns_requests_total{type=%q} %d\n", n, vals[n])
	}
	fmt.Fprintf(w, "podnet_dns_requests_total{type=\"other\"} %d\n", m.other.Load())
	fmt.Fprintln(w, "# HELP podnet_dns_responses_total Counter of response status codes.")
	fmt.Fprintln(w, "# TYPE podnet_dns_responses_total counter")
	for rc := range m.byRcode {
		if v := m.byRcode[rc].Load(); v > 0 {
			fmt.Fprintf(w, "podnet_dns_responses_total{rcode=%q} %d\n", rcodeName(rc), v)
		}
	}
	fmt.Fprintln(w, "# HELP podnet_dns_request_duration_seconds Histogram of the time (in seconds) each request took.")
	fmt.Fprintln(w, "# TYPE podnet_dns_request_duration_seconds histogram")
	var cum uint64
	for i, b := range latencyBuckets {
		cum += m.buckets[i].Load()
		fmt.Fprintf(w, "podnet_dns_request_duration_seconds_bucket{le=\"%g\"} %d\n", b, cum)
	}
	count := m.count.Load()
	fmt.Fprintf(w, "podnet_dns_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", count)
	fmt.Fprintf(w, "podnet_dns_request_duration_seconds_sum %g\n", float64(m.sumNs.Load())/1e9)
	fmt.Fprintf(w, "podnet_dns_request_duration_seconds_count %d\n", count)
}

func rcodeName(rc int) string {
	if n, ok := mdns.RcodeToString[rc]; ok {
		return n
	}
	return fmt.Sprint(rc)
}
