package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// Server answers the cluster zone from its Index and forwards the rest.
type Server struct {
	cfg Config
	// localReverse: the service and pod CIDRs, whose reverse names are answered here.
	localReverse []netip.Prefix
	index        *Index
	fwd          *forwarder // nil: no forwarding
	cache        *cache     // nil: no cache
	loop         *loopGuard
	metrics      *metrics
}

// New validates cfg and builds a Server; upstreams are read from cfg.ResolvConf now.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lg, err := newLoopGuard()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, index: newIndex(cfg.Registry == nil, max(cfg.CacheSize, 0)), loop: lg, metrics: newMetrics(),
		localReverse: append(append([]netip.Prefix(nil), cfg.ServiceCIDRs...), cfg.PodCIDRs...)}
	if cfg.CacheSize > 0 {
		s.cache = newCache(cfg.CacheSize, cfg.MaxCacheTTL, cfg.MaxNegativeTTL)
	}
	if !cfg.NoForward {
		ups := cfg.Upstreams
		if len(ups) == 0 {
			if ups, err = upstreamsFrom(cfg.ResolvConf, cfg.SystemdResolvConf); err != nil {
				cfg.Logger.Error("dns forwarding off", "err", err)
			}
		}
		kept := withoutSelf(ups, cfg.Listen, cfg.LocalIPs, cfg.ServiceIP)
		if len(kept) < len(ups) {
			cfg.Logger.Warn("dns upstreams that are this server dropped", "upstreams", ups, "kept", kept)
		}
		if len(kept) > 0 {
			s.fwd = newForwarder(kept, cfg.ForwardTimeout)
		}
	}
	return s, nil
}

// Index is the server's index, for feeding it through Set/Delete methods.
func (s *Server) Index() *Index { return s.index }

// Answer is the reply to req as the server would send it over TCP (no truncation): cluster
// names from the index, others forwarded. It does not modify req.
func (s *Server) Answer(req *mdns.Msg) *mdns.Msg { return s.handle(req, false, nil) }

// WriteMetrics writes the counters and the latency histogram as Prometheus text.
func (s *Server) WriteMetrics(w io.Writer) { s.metrics.write(w) }

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	start := time.Now()
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	resp := s.handle(req, udp, nil)
	if err := w.WriteMsg(resp); err != nil {
		s.cfg.Logger.Debug("dns write failed", "err", err)
	}
	qtype := uint16(0)
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	s.metrics.observe(qtype, resp.Rcode, time.Since(start))
}

// handle is the whole path of one request: checks, answer or forward, EDNS echo, truncation.
// o, when not nil, learns what the reply was made from.
func (s *Server) handle(req *mdns.Msg, udp bool, o *origin) *mdns.Msg {
	if len(req.Question) == 0 {
		m := new(mdns.Msg)
		m.Id, m.Response, m.Opcode, m.Rcode = req.Id, true, req.Opcode, mdns.RcodeServerFailure
		return m
	}
	if s.loop.isProbe(req) {
		s.cfg.Logger.Error("dns forwarding loop detected: an upstream forwards to this server; forwarding stopped", "probe", s.loop.name)
		return errorReply(req, mdns.RcodeServerFailure)
	}
	if req.Question[0].Qclass != mdns.ClassINET {
		return errorReply(req, mdns.RcodeRefused)
	}
	if o := req.IsEdns0(); o != nil && o.Version() != 0 {
		m := new(mdns.Msg)
		m.SetReply(req)
		opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
		opt.SetExtendedRcode(mdns.RcodeBadVers)
		m.Rcode = mdns.RcodeBadVers
		m.Extra = []mdns.RR{opt}
		return m
	}
	if o == nil {
		o = new(origin)
	}
	o.fixed = true
	resp := s.resolve(req, 0, o)
	sizeAndDo(req, resp)
	if udp {
		resp.Truncate(udpSize(req))
	}
	return resp
}

func errorReply(req *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(req, rcode)
	sizeAndDo(req, m)
	return m
}

// resolve answers from the index, or forwards; o records the snapshot and what else the reply
// depends on.
func (s *Server) resolve(req *mdns.Msg, depth int, o *origin) *mdns.Msg {
	a := &answerer{
		lookup: lookup{
			snap: s.index.snapshot(), ttl: uint32(s.cfg.TTL / time.Second), primaryZone: s.cfg.Zone,
			localIPs: s.cfg.LocalIPs, depth: depth,
		},
		clusterZone:  s.cfg.Zone,
		localReverse: s.localReverse,
	}
	if depth == 0 {
		o.snap = a.snap
	}
	a.upstream = func(name string, qtype uint16) *mdns.Msg {
		o.fixed = false
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		m.RecursionDesired = req.RecursionDesired
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), opt.Do())
		}
		return s.resolve(m, depth+1, o)
	}
	if resp, v := a.respond(req); v == answered {
		return resp
	}
	return s.forward(req, o)
}

// forward answers from the cache or the upstreams; SERVFAIL when none can.
func (s *Server) forward(req *mdns.Msg, o *origin) *mdns.Msg {
	if s.fwd == nil || s.loop.detected.Load() {
		o.fixed = false
		return errorReply(req, mdns.RcodeServerFailure)
	}
	if s.cache != nil {
		if m, it, left := s.cache.get(req); m != nil {
			if o.item != nil { // a second cached name in one reply: too much to track
				o.fixed = false
			}
			o.item, o.left = it, left
			return m
		}
	}
	o.fixed = false
	resp, err := s.fwd.exchange(req)
	if err != nil {
		s.cfg.Logger.Debug("dns forward failed", "name", req.Question[0].Name, "err", err)
		return errorReply(req, mdns.RcodeServerFailure)
	}
	if s.cache != nil {
		s.cache.put(req, resp)
	}
	resp.Id = req.Id
	resp.Question = []mdns.Question{req.Question[0]}
	if req.IsEdns0() == nil {
		resp.Extra = withoutOPT(resp.Extra)
	}
	return resp
}

// sizeAndDo echoes the request's OPT in the reply as CoreDNS does (version 0, the client's
// size, DO kept, other flags cleared, only well-known options).
func sizeAndDo(req, resp *mdns.Msg) {
	o := req.IsEdns0()
	if o == nil {
		return
	}
	if mo := resp.IsEdns0(); mo != nil {
		mo.Hdr.Name = "."
		mo.SetVersion(0)
		mo.SetUDPSize(o.UDPSize())
		mo.Hdr.Ttl &= 0xff00
		if o.Do() {
			mo.SetDo()
		}
		return
	}
	opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT, Class: o.Hdr.Class, Ttl: o.Hdr.Ttl & 0xff00}}
	opt.SetVersion(0)
	for _, e := range o.Option {
		switch e.Option() {
		case mdns.EDNS0NSID, mdns.EDNS0EXPIRE, mdns.EDNS0COOKIE, mdns.EDNS0TCPKEEPALIVE, mdns.EDNS0PADDING:
			opt.Option = append(opt.Option, e)
		}
	}
	resp.Extra = append(resp.Extra, opt)
}

// udpSize is the client's advertised UDP size, at least 512.
func udpSize(req *mdns.Msg) int {
	if o := req.IsEdns0(); o != nil && o.UDPSize() > mdns.MinMsgSize {
		return int(o.UDPSize())
	}
	return mdns.MinMsgSize
}

// Run feeds the index from the Registry (when set), serves UDP and TCP on cfg.Listen, probes
// the upstreams for a loop, and shuts the listeners down gracefully when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.cfg.Registry != nil {
		if err := s.startWatch(ctx, &wg); err != nil {
			return err
		}
	}
	servers, err := s.listen()
	if err != nil {
		return err
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.serve(); err != nil {
				errc <- fmt.Errorf("dns serve %s: %w", srv.network(), err)
			}
		}()
	}
	if s.fwd != nil && s.cfg.LoopProbes > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.loop.probe(s.fwd, s.cfg.LoopProbes, ctx.Done()) {
				s.cfg.Logger.Error("dns forwarding loop detected at start; forwarding stopped", "upstreams", s.fwd.upstreams)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	for _, srv := range servers {
		_ = srv.shutdown(sctx)
	}
	cancel()
	return err
}

// listen opens the sockets: UDPSockets SO_REUSEPORT UDP sockets and one TCP listener per address.
// UDP on a given address is served by podnet's own loop (udp.go); on an unspecified one by
// miekg/dns, which sends each reply from the address its query came to.
func (s *Server) listen() ([]listener, error) {
	n := s.cfg.UDPSockets
	if n == 0 {
		n = max(1, runtime.NumCPU()/2)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var out []listener
	closeAll := func() {
		for _, l := range out {
			l.close()
		}
	}
	for _, ap := range s.cfg.Listen {
		addr := ap.String()
		for range n {
			pc, err := lc.ListenPacket(context.Background(), "udp", addr)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
			}
			if uc, ok := pc.(*net.UDPConn); ok && !ap.Addr().IsUnspecified() {
				out = append(out, newUDPServer(s, uc))
				continue
			}
			out = append(out, mdnsServer{&mdns.Server{PacketConn: pc, Net: "udp", Handler: s, UDPSize: 65535}})
		}
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("dns listen tcp %s: %w", addr, err)
		}
		out = append(out, mdnsServer{&mdns.Server{Listener: l, Net: "tcp", Handler: s}})
	}
	if len(out) == 0 && len(s.cfg.Listen) > 0 {
		return nil, errors.New("dns: no listeners")
	}
	return out, nil
}

// listener is one socket being served.
type listener interface {
	serve() error
	shutdown(ctx context.Context) error
	close() // before serve: release the socket
	network() string
}

// mdnsServer serves TCP, and UDP on unspecified addresses, with miekg/dns.
type mdnsServer struct{ *mdns.Server }

func (m mdnsServer) serve() error                       { return m.ActivateAndServe() }
func (m mdnsServer) shutdown(ctx context.Context) error { return m.ShutdownContext(ctx) }
func (m mdnsServer) network() string                    { return m.Net }
func (m mdnsServer) close() {
	if m.PacketConn != nil {
		m.PacketConn.Close()
	}
	if m.Listener != nil {
		m.Listener.Close()
	}
}
