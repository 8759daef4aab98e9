package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// fakeClock is the forwarding cache's clock, moved by the test while the server runs.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(s *Server) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(fixedNow.UnixNano())
	s.cache.now = func() time.Time { return time.Unix(0, c.ns.Load()) }
	return c
}

func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// udpServerFor runs s on a UDP address of its own loop (and TCP), until the test ends.
func udpServerFor(t *testing.T, s *Server) netip.AddrPort {
	t.Helper()
	addr := freePort(t)
	s.cfg.Listen, s.cfg.UDPSockets = []netip.AddrPort{addr}, 2
	runServer(t, s)
	return addr
}

// exchangeRaw sends pkt to addr and returns the reply's bytes, or nil when none came.
func exchangeRaw(t *testing.T, addr netip.AddrPort, pkt []byte) []byte {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func packQuery(t *testing.T, name string, qtype uint16, mod func(*mdns.Msg)) []byte {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0x1234
	m.RecursionDesired = true
	if mod != nil {
		mod(m)
	}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

// TestUDPLoopAnswersAsMiekg: for valid and invalid packets, podnet's UDP loop replies with
// exactly the bytes miekg/dns's server (handing the same Server its requests) sends, the first
// time (answered in full) and the second (from the kept reply when there is one), or sends
// nothing when miekg sends nothing.
func TestUDPLoopAnswersAsMiekg(t *testing.T) {
	up := startUpstream(t, exampleUpstream)
	s := newTestServer(t, nil, up.addr)
	newFakeClock(s)
	var eps []ep
	for i := 1; i <= 60; i++ {
		eps = append(eps, ep{ip: fmt.Sprintf("10.244.1.%d", i), ready: true})
	}
	s.Index().SetService(svc("default", "big", corev1.ServiceTypeClusterIP, []string{"None"}))
	s.Index().SetEndpointSlice(slice("default", "big-1", "big", []discoveryv1.EndpointPort{slport("p", 80)}, eps...))
	ours := udpServerFor(t, s)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := &mdns.Server{PacketConn: pc, Net: "udp", Handler: s, UDPSize: 65535}
	go func() { _ = ref.ActivateAndServe() }()
	t.Cleanup(func() { _ = ref.Shutdown() })
	theirs := netip.MustParseAddrPort(pc.LocalAddr().String())

	edns := func(size uint16, do bool) func(*mdns.Msg) { return func(m *mdns.Msg) { m.SetEdns0(size, do) } }
	cookie := func(m *mdns.Msg) {
		m.SetEdns0(1232, false)
		o := m.IsEdns0()
		o.Option = append(o.Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})
	}
	valid := []struct {
		name  string
		qtype uint16
		mod   func(*mdns.Msg)
		kept  bool
	}{
		{"web.default.svc.cluster.local.", mdns.TypeA, nil, true},
		{"WEB.Default.svc.Cluster.Local.", mdns.TypeA, nil, true},
		{"web.default.svc.cluster.local.", mdns.TypeA, edns(1232, true), true},
		{"web.default.svc.cluster.local.", mdns.TypeA, cookie, true},
		{"web.default.svc.cluster.local.", mdns.TypeAAAA, nil, true},
		{"web.default.svc.cluster.local.", mdns.TypeSRV, nil, true},
		{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, nil, true},
		{"nope.default.svc.cluster.local.", mdns.TypeA, nil, true},
		{"db.default.svc.cluster.local.", mdns.TypeA, nil, true},
		{"big.default.svc.cluster.local.", mdns.TypeA, nil, true},               // truncated
		{"big.default.svc.cluster.local.", mdns.TypeA, edns(4096, false), true}, // whole
		{"20.0.96.10.in-addr.arpa.", mdns.TypePTR, nil, true},
		{"dns-version.cluster.local.", mdns.TypeTXT, nil, true},
		{"cluster.local.", mdns.TypeSOA, nil, true},
		{"cluster.local.", mdns.TypeNS, nil, true},
		{"example.org.", mdns.TypeA, nil, true},                    // forwarded, cached
		{"missing.org.", mdns.TypeA, edns(1232, false), true},      // negative cache
		{"99.0.244.10.in-addr.arpa.", mdns.TypePTR, nil, true},     // fell through, cached
		{"ext.default.svc.cluster.local.", mdns.TypeA, nil, false}, // CNAME chased upstream
		{"web.default.svc.cluster.local.", mdns.TypeA, edns(0, false), true},
		{"cluster.local.", mdns.TypeAXFR, nil, true},
	}
	type packet struct {
		what string
		pkt  []byte
		kept bool
	}
	var packets []packet
	for _, v := range valid {
		packets = append(packets, packet{fmt.Sprintf("%s %s", v.name, mdns.TypeToString[v.qtype]), packQuery(t, v.name, v.qtype, v.mod), v.kept})
	}
	badVers := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, edns(1232, false))
	badVers[len(badVers)-5] = 1 // the OPT's version: its TTL's second byte
	chaos := packQuery(t, "version.bind.", mdns.TypeTXT, func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS })
	response := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, func(m *mdns.Msg) { m.Response = true })
	update := packQuery(t, "cluster.local.", mdns.TypeSOA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate })
	twoQ := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, func(m *mdns.Msg) {
		m.Question = append(m.Question, m.Question[0])
	})
	noQ := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, func(m *mdns.Msg) { m.Question = nil })
	cut := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, nil)
	cut = cut[:20]
	lying := bytes.Clone(packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, nil))
	binary.BigEndian.PutUint16(lying[10:], 1) // one additional record that is not there
	packets = append(packets,
		packet{"EDNS version 1", badVers, false}, packet{"CHAOS class", chaos, false},
		packet{"a response", response, false}, packet{"UPDATE", update, false},
		packet{"two questions", twoQ, false}, packet{"no question", noQ, false},
		packet{"cut short", cut, false}, packet{"arcount too big", lying, true}, // miekg reads what is there
		packet{"shorter than a header", []byte{1, 2, 3, 4, 5}, false})

	for _, p := range packets {
		exchangeRaw(t, theirs, p.pkt) // fill the forwarding cache as the first query would
		want := exchangeRaw(t, theirs, p.pkt)
		for i := range 2 {
			got := exchangeRaw(t, ours, p.pkt)
			if !bytes.Equal(got, want) {
				t.Errorf("%s, query %d: podnet's loop sent\n%v\nmiekg's server\n%v", p.what, i+1, replyText(got), replyText(want))
			}
		}
		if kept := len(p.pkt) >= headerSize && s.index.snapshot().wire.get(p.pkt[2:]) != nil; kept != p.kept {
			t.Errorf("%s: kept %v, want %v", p.what, kept, p.kept)
		}
	}
}

func replyText(b []byte) string {
	if b == nil {
		return "(no reply)"
	}
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Sprintf("% x (%v)", b, err)
	}
	return m.String()
}

// TestKeptRepliesFollowTheIndex: a write to the index retires the replies kept before it.
func TestKeptRepliesFollowTheIndex(t *testing.T) {
	s := newTestServer(t, nil)
	addr := udpServerFor(t, s)
	q := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, nil)
	ask := func() string {
		m := new(mdns.Msg)
		if err := m.Unpack(exchangeRaw(t, addr, q)); err != nil {
			t.Fatal(err)
		}
		return render(m)
	}
	for range 2 {
		if got := ask(); got != "NOERROR aa\nan web.default.svc.cluster.local. 5 IN A 10.96.0.20\n" {
			t.Fatalf("before: %s", got)
		}
	}
	s.Index().SetService(svc("default", "web", corev1.ServiceTypeClusterIP, []string{"10.96.0.21"}, port("http", corev1.ProtocolTCP, 80)))
	if got := ask(); got != "NOERROR aa\nan web.default.svc.cluster.local. 5 IN A 10.96.0.21\n" {
		t.Fatalf("after the write: %s", got)
	}
	s.Index().DeleteService("default", "web")
	if got := ask(); got != "NXDOMAIN aa\n"+soa {
		t.Fatalf("after the delete: %s", got)
	}
}

// TestKeptForwardedReplies: a kept reply to a forwarded name is served while the cache entry it
// came from is, its TTLs rewritten to the seconds that entry has left, byte for byte the reply
// the full path makes; then the upstream is asked again. Once a loop is detected, it is not
// served either.
func TestKeptForwardedReplies(t *testing.T) {
	up := startUpstream(t, exampleUpstream)
	s := newTestServer(t, nil, up.addr)
	clock := newFakeClock(s)
	addr := udpServerFor(t, s)
	pos := packQuery(t, "example.org.", mdns.TypeA, nil)
	neg := packQuery(t, "missing.org.", mdns.TypeA, func(m *mdns.Msg) { m.SetEdns0(1232, true) })
	ask := func(step int, q []byte) string {
		got := exchangeRaw(t, addr, q)
		req := new(mdns.Msg)
		if err := req.Unpack(q); err != nil {
			t.Fatal(err)
		}
		want, err := s.handle(req, true, nil).Pack()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("step %d: the loop sent\n%s\nthe full path makes\n%s", step, replyText(got), replyText(want))
		}
		m := new(mdns.Msg)
		if err := m.Unpack(got); err != nil {
			t.Fatal(err)
		}
		return render(m)
	}
	const negTTL = "NXDOMAIN\nns org. %d IN SOA a.org. h.org. 1 2 3 4 60\n"
	steps := []struct {
		advance  time.Duration
		pos, neg uint32
		asked    int32
	}{
		{0, 300, 60, 2},
		{0, 300, 60, 2},
		{500 * time.Millisecond, 300, 60, 2},
		{time.Second, 299, 59, 2},
		{0, 299, 59, 2},
		{58 * time.Second, 241, 1, 2},
		{time.Second, 240, 60, 3},       // the negative entry expired: asked again
		{240 * time.Second, 300, 60, 5}, // both expired
	}
	for i, st := range steps {
		clock.advance(st.advance)
		if got, want := ask(i, pos), fmt.Sprintf("NOERROR\nan example.org. %d IN A 192.0.2.80\n", st.pos); got != want {
			t.Errorf("step %d: got\n%s\nwant\n%s", i, got, want)
		}
		if got, want := ask(i, neg), fmt.Sprintf(negTTL, st.neg); got != want {
			t.Errorf("step %d: got\n%s\nwant\n%s", i, got, want)
		}
		if n := up.n.Load(); n != st.asked {
			t.Errorf("step %d: upstream asked %d times, want %d", i, n, st.asked)
		}
	}
	s.loop.detected.Store(true)
	if got := render(mustUnpack(t, exchangeRaw(t, addr, pos))); got != "SERVFAIL\n" {
		t.Errorf("after a loop: got\n%s", got)
	}
}

func mustUnpack(t *testing.T, b []byte) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUDPShutdownWaits: Run returns once the sockets are closed and the requests being
// answered (one waiting for a slow upstream here) have been.
func TestUDPShutdownWaits(t *testing.T) {
	release := make(chan struct{})
	up := startUpstream(t, func(w mdns.ResponseWriter, r *mdns.Msg) {
		<-release
		exampleUpstream(w, r)
	})
	s := newTestServer(t, func(c *Config) { c.ForwardTimeout = 2 * time.Second }, up.addr)
	addr := freePort(t)
	s.cfg.Listen = []netip.AddrPort{addr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	c := &mdns.Client{Timeout: 200 * time.Millisecond}
	for i := 0; ; i++ {
		if _, _, err := c.Exchange(query("dns-version.cluster.local.", mdns.TypeTXT), addr.String()); err == nil {
			break
		}
		if i == 50 {
			t.Fatal("server never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	go func() {
		_, _, _ = (&mdns.Client{Timeout: 3 * time.Second}).Exchange(query("example.org.", mdns.TypeA), addr.String())
	}()
	for up.n.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a request was being answered")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestKeptRepliesAllocateNothing: once a question's reply is kept, answering it again over UDP
// allocates nothing in the server (the client here reuses its buffers too).
func TestKeptRepliesAllocateNothing(t *testing.T) {
	s := newTestServer(t, nil)
	addr := udpServerFor(t, s)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := packQuery(t, "web.default.svc.cluster.local.", mdns.TypeA, nil)
	buf := make([]byte, 4096)
	ask := func(n int) {
		for range n {
			if _, err := c.Write(q); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	ask(10)
	const n = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ask(n)
	runtime.ReadMemStats(&after)
	per := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.4f allocations per repeated question", per)
	if per > 0.05 {
		t.Errorf("%.2f allocations per repeated question", per)
	}
}
