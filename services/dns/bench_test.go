package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The benchmarks serve the shape integration/bench's DNS section measures: 1,000 ClusterIP
// services with 2 endpoints, 100 headless ones with 3 named endpoints, and external names
// answered by an upstream on loopback (cached after the first query).

const benchServices, benchHeadless, benchExternal = 1000, 100, 1000

func benchExternalUpstream(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	var i int
	if _, err := fmt.Sscanf(q.Name, "name-%04d.example.test.", &i); err == nil && q.Qtype == mdns.TypeA {
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 3600},
			A: net.IPv4(198, 18, byte(i>>8), byte(i)).To4()}}
	} else {
		m.Rcode = mdns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// benchServer is a server over the benchmark cluster, forwarding to a loopback upstream, with
// listen as its addresses (none: Answer only).
func benchServer(b testing.TB, listen ...netip.AddrPort) *Server {
	b.Helper()
	up := startBenchUpstream(b)
	s, err := New(Config{Upstreams: []netip.AddrPort{up}, Listen: listen, LoopProbes: -1})
	if err != nil {
		b.Fatal(err)
	}
	x := s.Index()
	x.SetNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	for i := range benchServices {
		name := fmt.Sprintf("fill-%05d", i)
		x.SetService(svc("default", name, corev1.ServiceTypeClusterIP, []string{fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250)},
			port("http", corev1.ProtocolTCP, 80)))
		x.SetEndpointSlice(slice("default", name+"-1", name, []discoveryv1.EndpointPort{slport("http", 8080)},
			ep{ip: fmt.Sprintf("10.244.%d.%d", 64+2*i/250, 2*i%250), ready: true}, ep{ip: fmt.Sprintf("10.244.%d.%d", 64+2*i/250, 1+2*i%250), ready: true}))
	}
	for i := range benchHeadless {
		name := fmt.Sprintf("hl-%03d", i)
		x.SetService(svc("default", name, corev1.ServiceTypeClusterIP, []string{"None"}, port("http", corev1.ProtocolTCP, 80)))
		var eps []ep
		for j := range 3 {
			eps = append(eps, ep{ip: fmt.Sprintf("10.244.%d.%d", 80+(4*i+j)/250, (4*i+j)%250), hostname: fmt.Sprintf("%s-%d", name, j), ready: true})
		}
		x.SetEndpointSlice(slice("default", name+"-1", name, []discoveryv1.EndpointPort{slport("http", 8080)}, eps...))
	}
	return s
}

func startBenchUpstream(b testing.TB) netip.AddrPort {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(benchExternalUpstream)}
	go func() { _ = srv.ActivateAndServe() }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// benchQueries is the section's mix, packed: A, AAAA, SRV, PTR of ClusterIPs, headless names,
// then the external names.
func benchQueries(b *testing.B) (cluster, external [][]byte) {
	b.Helper()
	pack := func(name string, qtype uint16) []byte {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		m.RecursionDesired = true
		wire, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		return wire
	}
	for i := 0; i < benchServices; i += 7 {
		name := fmt.Sprintf("fill-%05d.default.svc.cluster.local.", i)
		rev, _ := mdns.ReverseAddr(fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250))
		cluster = append(cluster, pack(name, mdns.TypeA), pack(name, mdns.TypeA), pack(name, mdns.TypeA), pack(name, mdns.TypeA),
			pack(name, mdns.TypeAAAA), pack("_http._tcp."+name, mdns.TypeSRV), pack(rev, mdns.TypePTR),
			pack(fmt.Sprintf("hl-%03d.default.svc.cluster.local.", i%benchHeadless), mdns.TypeA))
	}
	for i := range benchExternal {
		external = append(external, pack(fmt.Sprintf("name-%04d.example.test.", i), mdns.TypeA))
	}
	return cluster, external
}

// BenchmarkAnswer is one query's work inside the server (unpack, answer, pack), no sockets.
func BenchmarkAnswer(b *testing.B) {
	s := benchServer(b)
	cluster, external := benchQueries(b)
	for _, bc := range []struct {
		name string
		qs   [][]byte
	}{{"cluster", cluster}, {"external-cached", external}} {
		for _, q := range bc.qs { // warm the cache
			m := new(mdns.Msg)
			_ = m.Unpack(q)
			s.handle(m, true, nil)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					m := new(mdns.Msg)
					if err := m.Unpack(bc.qs[i%len(bc.qs)]); err != nil {
						b.Fatal(err)
					}
					if _, err := s.handle(m, true, nil).Pack(); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}

// BenchmarkKeptReply is a repeated question's work inside the server: the kept reply found
// and copied with the request's ID (what BenchmarkAnswer's work becomes for a question asked
// before), no sockets.
func BenchmarkKeptReply(b *testing.B) {
	s := benchServer(b)
	cluster, external := benchQueries(b)
	for _, bc := range []struct {
		name string
		qs   [][]byte
	}{{"cluster", cluster}, {"external-cached", external}} {
		for _, q := range bc.qs {
			for range 2 { // the first forwards, the second is a cache hit and may be kept
				m := new(mdns.Msg)
				_ = m.Unpack(q)
				var o origin
				resp := s.handle(m, true, &o)
				wire, err := resp.Pack()
				if err != nil {
					b.Fatal(err)
				}
				s.keep(q, wire, &o, m.Question[0].Qtype, resp.Rcode)
			}
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var out []byte
				i := 0
				for pb.Next() {
					reply, r := s.fromWire(bc.qs[i%len(bc.qs)], out)
					if r == nil {
						b.Fatal("no kept reply")
					}
					out = reply
					i++
				}
			})
		})
	}
}

// BenchmarkServeUDP is the whole path through the UDP sockets on loopback, from clients of
// its own (each a socket with a window of queries in flight); the clients cost CPU too.
func BenchmarkServeUDP(b *testing.B) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := netip.MustParseAddrPort(l.LocalAddr().String())
	l.Close()
	s := benchServer(b, addr)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	cluster, external := benchQueries(b)
	for _, bc := range []struct {
		name string
		qs   [][]byte
	}{{"cluster", cluster}, {"external-cached", external}} {
		b.Run(bc.name, func(b *testing.B) {
			benchUDPClients(b, addr, bc.qs)
		})
	}
}

// benchUDPClients runs 8 clients, 16 queries in flight each, until b.N replies arrived.
func benchUDPClients(b *testing.B, addr netip.AddrPort, qs [][]byte) {
	const clients, window = 8, 16
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	for c := range clients {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			buf := make([]byte, 4096)
			q := make([]byte, 0, 512)
			send := func(i int) bool {
				q = append(q[:0], qs[i%len(qs)]...)
				q[0], q[1] = byte(i>>8), byte(i)
				_, err := conn.Write(q)
				return err == nil
			}
			i := c * 7919
			for range window {
				send(i)
				i++
			}
			for left.Add(-1) >= 0 {
				_ = conn.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := conn.Read(buf); err != nil {
					send(i) // lost: keep the window full
					i++
					continue
				}
				send(i)
				i++
			}
		}()
	}
	wg.Wait()
}
