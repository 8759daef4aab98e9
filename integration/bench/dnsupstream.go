package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// The upstream resolver of the DNS section: a server of the bench's own, in this process, on an
// address of the bench's namespace (never a real resolver), answering a fixed set of external
// names. It must not be loopback: podnet reads loopback-only resolv.confs as a local stub and
// looks for systemd-resolved's upstreams instead.
const (
	upstreamIP   = "10.253.0.53"
	externalZone = "example.test."
	// externalTTL is long enough that no cached external answer expires during the section in
	// podnet (whose cache keeps up to an hour); CoreDNS's `cache 30` caps it at 30 s.
	externalTTL = 3600
)

// externalName is the i-th external name the upstream knows.
func externalName(i int) string { return fmt.Sprintf("name-%04d.%s", i, externalZone) }

// externalAddr is its address, in TEST-NET-2-adjacent benchmarking space (198.18.0.0/15).
func externalAddr(i int) net.IP { return net.IPv4(198, 18, byte(i>>8), byte(i)).To4() }

// upstream answers name-NNNN.example.test. A for NNNN below names; every other name under the
// zone gets NODATA or NXDOMAIN with the zone's SOA, anything else REFUSED.
type upstream struct {
	names   int
	queries atomic.Int64
	servers []*mdns.Server
}

// startUpstream serves UDP and TCP (the forwarders retry truncated answers over TCP) on
// upstreamIP:53, which the caller has put on an interface of the bench's namespace.
func startUpstream(names int) (*upstream, error) {
	u := &upstream{names: names}
	addr := net.JoinHostPort(upstreamIP, "53")
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream listen udp %s: %w", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("upstream listen tcp %s: %w", addr, err)
	}
	u.servers = []*mdns.Server{
		{PacketConn: pc, Net: "udp", Handler: u},
		{Listener: l, Net: "tcp", Handler: u},
	}
	for _, s := range u.servers {
		go func() { _ = s.ActivateAndServe() }()
	}
	return u, nil
}

func (u *upstream) stop() error {
	var errs []error
	for _, s := range u.servers {
		if err := s.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", s.Net, err))
		}
	}
	return errors.Join(errs...)
}

func (u *upstream) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	u.queries.Add(1)
	m := new(mdns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
	}
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if !mdns.IsSubDomain(externalZone, name) {
		m.Rcode = mdns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	i, known := u.index(name)
	switch {
	case known && q.Qtype == mdns.TypeA:
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: externalTTL}, A: externalAddr(i)}}
	case known || name == externalZone:
		m.Ns = []mdns.RR{upstreamSOA()}
	default:
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{upstreamSOA()}
	}
	_ = w.WriteMsg(m)
}

// index is i for name-i.example.test., when i is one of the known names.
func (u *upstream) index(name string) (int, bool) {
	label, rest, _ := strings.Cut(name, ".")
	num, ok := strings.CutPrefix(label, "name-")
	if !ok || rest != externalZone {
		return 0, false
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 || i >= u.names || externalName(i) != name {
		return 0, false
	}
	return i, true
}

func upstreamSOA() mdns.RR {
	return &mdns.SOA{
		Hdr: mdns.RR_Header{Name: externalZone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: 300},
		Ns:  "ns." + externalZone, Mbox: "hostmaster." + externalZone,
		Serial:  uint32(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), // #nosec G115 -- fits
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: 300,
	}
}

// upstreamAddr is where the resolv.conf given to podnet and CoreDNS's forward point.
func upstreamAddr() netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(upstreamIP), 53) }
