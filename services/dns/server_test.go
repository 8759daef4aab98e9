package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func freePort(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return netip.MustParseAddrPort(l.Addr().String())
}

// runServer runs s until the test ends and waits until it answers.
func runServer(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	c := &mdns.Client{Timeout: 200 * time.Millisecond}
	for i := 0; i < 50; i++ {
		if _, _, err := c.Exchange(query("dns-version.cluster.local.", mdns.TypeTXT), s.cfg.Listen[0].String()); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server never answered")
}

// TestServerUDPAndTCP: EDNS0 is echoed with the client's size, a reply too big for UDP is
// truncated (TC) and comes whole over TCP.
func TestServerUDPAndTCP(t *testing.T) {
	addr := freePort(t)
	s := newTestServer(t, func(c *Config) { c.Listen = []netip.AddrPort{addr}; c.UDPSockets = 2 })
	var eps []ep
	for i := 1; i <= 60; i++ {
		eps = append(eps, ep{ip: fmt.Sprintf("10.244.1.%d", i), ready: true})
	}
	s.Index().SetService(svc("default", "big", corev1.ServiceTypeClusterIP, []string{"None"}))
	s.Index().SetEndpointSlice(slice("default", "big-1", "big", []discoveryv1.EndpointPort{slport("p", 80)}, eps...))
	runServer(t, s)

	udp := &mdns.Client{Net: "udp", Timeout: time.Second}
	m := query("web.default.svc.cluster.local.", mdns.TypeA)
	m.SetEdns0(1232, true)
	r, _, err := udp.Exchange(m, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	opt := r.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 || !opt.Do() || render(r) != "NOERROR aa\nan web.default.svc.cluster.local. 5 IN A 10.96.0.20\n" {
		t.Fatalf("EDNS0 reply: opt=%v\n%s", opt, render(r))
	}
	big := query("big.default.svc.cluster.local.", mdns.TypeA)
	r, _, err = udp.Exchange(big, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("udp: want TC and fewer than 60 answers, got tc=%v %d", r.Truncated, len(r.Answer))
	}
	r, _, err = (&mdns.Client{Net: "tcp", Timeout: time.Second}).Exchange(big, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("tcp: want 60 answers, got tc=%v %d", r.Truncated, len(r.Answer))
	}
	var b strings.Builder
	for i := 0; i < 100 && !strings.Contains(b.String(), `podnet_dns_requests_total{type="A"} 3`); i++ {
		time.Sleep(10 * time.Millisecond) // the last query is counted after its reply is sent
		b.Reset()
		s.WriteMetrics(&b)
	}
	for _, want := range []string{`podnet_dns_requests_total{type="A"} 3`, `podnet_dns_responses_total{rcode="NOERROR"}`,
		`podnet_dns_request_duration_seconds_count`, `podnet_dns_requests_total{type="TXT"}`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// upstream is a test resolver on loopback answering from a function, counting queries.
type upstream struct {
	addr netip.AddrPort
	n    atomic.Int32
}

func startUpstream(t *testing.T, h func(w mdns.ResponseWriter, r *mdns.Msg)) *upstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: netip.MustParseAddrPort(pc.LocalAddr().String())}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		u.n.Add(1)
		h(w, r)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

func exampleUpstream(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	switch strings.ToLower(r.Question[0].Name) {
	case "example.org.":
		if r.Question[0].Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR("example.org. 300 IN A 192.0.2.80")
			m.Answer = append(m.Answer, rr)
		}
	default:
		m.Rcode = mdns.RcodeNameError
		rr, _ := mdns.NewRR("org. 900 IN SOA a.org. h.org. 1 2 3 4 60")
		m.Ns = append(m.Ns, rr)
	}
	w.WriteMsg(m)
}

func TestForwarding(t *testing.T) {
	up := startUpstream(t, exampleUpstream)
	s := newTestServer(t, nil, up.addr)
	tests := []struct {
		name  string
		qtype uint16
		want  string
		asked int32 // upstream queries so far
	}{
		{"example.org.", mdns.TypeA, "NOERROR\nan example.org. 300 IN A 192.0.2.80\n", 1},
		{"example.org.", mdns.TypeA, "NOERROR\nan example.org. 300 IN A 192.0.2.80\n", 1}, // cached
		{"missing.org.", mdns.TypeA, "NXDOMAIN\nns org. 60 IN SOA a.org. h.org. 1 2 3 4 60\n", 2},
		{"missing.org.", mdns.TypeA, "NXDOMAIN\nns org. 60 IN SOA a.org. h.org. 1 2 3 4 60\n", 2}, // negative cache
		{"ext.default.svc.cluster.local.", mdns.TypeA,
			"NOERROR aa\nan ext.default.svc.cluster.local. 5 IN CNAME example.org.\nan example.org. 300 IN A 192.0.2.80\n", 2},
		{"99.0.244.10.in-addr.arpa.", mdns.TypePTR, "NXDOMAIN\nns org. 60 IN SOA a.org. h.org. 1 2 3 4 60\n", 3},
	}
	for _, tc := range tests {
		got := render(s.Answer(query(tc.name, tc.qtype)))
		if got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
		if n := up.n.Load(); n != tc.asked {
			t.Errorf("%s: upstream asked %d times, want %d", tc.name, n, tc.asked)
		}
	}
}

// TestForwardFailover: a silent upstream times out, the next answers; when all fail, SERVFAIL.
func TestForwardFailover(t *testing.T) {
	silent := startUpstream(t, func(mdns.ResponseWriter, *mdns.Msg) {})
	good := startUpstream(t, exampleUpstream)
	s := newTestServer(t, nil, silent.addr, good.addr)
	if got := render(s.Answer(query("example.org.", mdns.TypeA))); got != "NOERROR\nan example.org. 300 IN A 192.0.2.80\n" {
		t.Errorf("failover: got\n%s", got)
	}
	if silent.n.Load() != 1 || good.n.Load() != 1 {
		t.Errorf("asked silent %d, good %d; want 1 and 1", silent.n.Load(), good.n.Load())
	}
	s2 := newTestServer(t, nil, silent.addr)
	if got := render(s2.Answer(query("example.org.", mdns.TypeA))); got != "SERVFAIL\n" {
		t.Errorf("all fail: got\n%s", got)
	}
}

// TestLoopDetected: an "upstream" that forwards everything back to us is found at start, and
// forwarding stops (SERVFAIL) instead of looping.
func TestLoopDetected(t *testing.T) {
	addr := freePort(t)
	back := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		resp, _, err := (&mdns.Client{Timeout: time.Second}).Exchange(r, addr.String())
		if err != nil {
			return
		}
		w.WriteMsg(resp)
	})
	s := newTestServer(t, func(c *Config) { c.Listen = []netip.AddrPort{addr}; c.UDPSockets = 1; c.LoopProbes = 3 }, back.addr)
	runServer(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for !s.loop.detected.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !s.loop.detected.Load() {
		t.Fatal("loop not detected")
	}
	asked := back.n.Load()
	if got := render(s.Answer(query("example.org.", mdns.TypeA))); got != "SERVFAIL\n" {
		t.Errorf("after loop: got\n%s", got)
	}
	if back.n.Load() != asked {
		t.Error("forwarded after the loop was detected")
	}
}

// A query that arrives while the first writer holds the index (so it cannot build a snapshot)
// is answered from the empty one, not a nil snapshot.
func TestQueryDuringFirstWrite(t *testing.T) {
	x := NewIndex(false)
	x.mu.Lock()
	x.stale.Store(true)
	snap := x.snapshot()
	x.mu.Unlock()
	if snap == nil {
		t.Fatal("no snapshot while the first write holds the index")
	}
}
