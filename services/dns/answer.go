package dns

import (
	"math"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// This file builds replies for the zones served here (the cluster zone and the reverse zones),
// mirroring CoreDNS's kubernetes handler and its plugin.A/AAAA/SRV/PTR/NS/SOA builders.

const maxCNAMEChain = 10

// zones served: the cluster zone first (the "primary zone" of PTR targets), then the reverse
// zones, which fall through to forwarding on a name error.
var reverseZones = []string{"in-addr.arpa.", "ip6.arpa."}

// matchZone is the longest served zone holding name (lower case), or "".
func matchZone(name, clusterZone string) string {
	best := ""
	for _, z := range append([]string{clusterZone}, reverseZones...) {
		if (name == z || strings.HasSuffix(name, "."+z)) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

// answerer turns requests into replies from one lookup.
type answerer struct {
	lookup
	clusterZone string
	// localReverse: reverse names inside these prefixes that match nothing are NXDOMAIN here
	// rather than forwarded.
	localReverse []netip.Prefix
}

// verdict says what to do with a request.
type verdict int

const (
	answered verdict = iota // the reply is final
	forward                 // not ours: forward upstream
)

// respond is the pure path: a reply for req, or forward.
func (a *answerer) respond(req *mdns.Msg) (*mdns.Msg, verdict) {
	q0 := req.Question[0]
	name := strings.ToLower(q0.Name)
	zl := matchZone(name, a.clusterZone)
	if zl == "" {
		return nil, forward
	}
	q := question{name: name, qname: q0.Name, zone: q0.Name[len(q0.Name)-len(zl):], qtype: q0.Qtype}

	var (
		records, extra []mdns.RR
		tc             bool
		err            error
	)
	switch q.qtype {
	case mdns.TypeA, mdns.TypeAAAA:
		records, tc, err = a.address(q, nil)
	case mdns.TypeTXT:
		records, err = a.txt(q)
	case mdns.TypeCNAME:
		records, err = a.cname(q)
	case mdns.TypePTR:
		records, err = a.ptr(q)
	case mdns.TypeMX:
		_, err = a.services(q) // no mail exchangers in Kubernetes: NODATA or NXDOMAIN
	case mdns.TypeSRV:
		records, extra, err = a.srv(q)
	case mdns.TypeSOA:
		if q.qname == q.zone {
			records = []mdns.RR{a.soa(q.zone)}
		}
	case mdns.TypeAXFR, mdns.TypeIXFR:
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeRefused)
		return m, answered
	case mdns.TypeNS:
		if q.name == q.zone {
			records, extra = a.ns(q)
			break
		}
		_, err = a.apex(q.with(q.qname, mdns.TypeA))
	default:
		// a fake A lookup tells NODATA from NXDOMAIN
		_, err = a.apex(q.with(q.qname, mdns.TypeA))
	}

	if err != nil {
		if zl != a.clusterZone {
			if a.inLocalReverse(name) {
				return a.backendError(req, q.zone, mdns.RcodeNameError), answered
			}
			return nil, forward
		}
		if !a.snap.synced {
			return a.backendError(req, q.zone, mdns.RcodeServerFailure), answered
		}
		return a.backendError(req, q.zone, mdns.RcodeNameError), answered
	}
	if len(records) == 0 {
		return a.backendError(req, q.zone, mdns.RcodeSuccess), answered
	}
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Truncated = tc
	m.Authoritative = true
	m.Answer = records
	m.Extra = extra
	return m, answered
}

func (a *answerer) inLocalReverse(name string) bool {
	ip, err := netip.ParseAddr(addressFromReverse(name))
	if err != nil {
		return false
	}
	for _, p := range a.localReverse {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// backendError is an authoritative reply with rcode and the zone's SOA in authority.
func (a *answerer) backendError(req *mdns.Msg, zone string, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative = true
	m.Ns = []mdns.RR{a.soa(zone)}
	return m
}

// soa is the zone's SOA as CoreDNS makes it: the serial is the time of the last change.
func (a *answerer) soa(zone string) mdns.RR {
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: zone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: min(a.ttl, 300)},
		Ns:      "ns.dns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  a.snap.serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  a.ttl,
	}
}

// apex is CoreDNS's checkForApex: the zone apex first looks for apex.dns.<zone>.
func (a *answerer) apex(q question) ([]entry, error) {
	if q.name != q.zone {
		return a.services(q)
	}
	es, err := a.services(q.with("apex.dns."+q.zone, q.qtype))
	if err == nil || err != errName {
		return es, err
	}
	return a.services(q)
}

func hdr(name string, t uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
}

// address answers A and AAAA (q.qtype), chasing ExternalName CNAMEs inside the zone and
// through the upstream outside it.
func (a *answerer) address(q question, prev []mdns.RR) ([]mdns.RR, bool, error) {
	es, err := a.apex(q)
	if err != nil {
		return nil, false, err
	}
	var (
		records []mdns.RR
		tc      bool
		dup     = map[string]struct{}{}
	)
	for _, e := range es {
		t, ip := e.hostType()
		switch {
		case t == mdns.TypeCNAME:
			target := mdns.Fqdn(e.host)
			if nameMatches(q.name, target) || len(prev) > maxCNAMEChain {
				continue
			}
			cn := &mdns.CNAME{Hdr: hdr(q.qname, mdns.TypeCNAME, e.ttl), Target: target}
			if duplicateCNAME(cn, prev) {
				continue
			}
			if mdns.IsSubDomain(q.zone, target) {
				next, tc1, err := a.address(q.with(e.host, q.qtype), append(prev, cn))
				if err == nil && len(next) > 0 {
					records = append(append(records, cn), next...)
				}
				tc = tc || tc1
				continue
			}
			if a.upstream == nil || a.depth > maxCNAMEChain {
				continue
			}
			m := a.upstream(target, q.qtype)
			if m == nil {
				continue
			}
			tc = tc || m.Truncated
			records = append(append(records, cn), m.Answer...)
		case t == mdns.TypeA && q.qtype == mdns.TypeA:
			if _, ok := dup[e.host]; !ok {
				dup[e.host] = struct{}{}
				records = append(records, &mdns.A{Hdr: hdr(q.qname, mdns.TypeA, e.ttl), A: ip.AsSlice()})
			}
		case t == mdns.TypeAAAA && q.qtype == mdns.TypeAAAA:
			if _, ok := dup[e.host]; !ok {
				dup[e.host] = struct{}{}
				records = append(records, &mdns.AAAA{Hdr: hdr(q.qname, mdns.TypeAAAA, e.ttl), AAAA: ip.AsSlice()})
			}
		}
	}
	return records, tc, nil
}

// nameMatches: child is name or below it (CoreDNS's plugin.Name.Matches).
func nameMatches(name, child string) bool {
	return strings.EqualFold(name, child) || mdns.IsSubDomain(name, child)
}

func duplicateCNAME(r *mdns.CNAME, records []mdns.RR) bool {
	for _, rec := range records {
		if c, ok := rec.(*mdns.CNAME); ok && c.Target == r.Target {
			return true
		}
	}
	return false
}

// txt: only dns-version.<zone> has one.
func (a *answerer) txt(q question) ([]mdns.RR, error) {
	es, err := a.services(q)
	if err != nil {
		return nil, err
	}
	var records []mdns.RR
	for _, e := range es {
		if t, _ := e.hostType(); t == mdns.TypeTXT {
			records = append(records, &mdns.TXT{Hdr: hdr(q.qname, mdns.TypeTXT, e.ttl), Txt: []string{e.text}})
		}
	}
	return records, nil
}

func (a *answerer) cname(q question) ([]mdns.RR, error) {
	es, err := a.services(q)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	if t, _ := es[0].hostType(); t == mdns.TypeCNAME {
		return []mdns.RR{&mdns.CNAME{Hdr: hdr(q.qname, mdns.TypeCNAME, es[0].ttl), Target: mdns.Fqdn(es[0].host)}}, nil
	}
	return nil, nil
}

func (a *answerer) ptr(q question) ([]mdns.RR, error) {
	es, err := a.reverse(q)
	if err != nil {
		return nil, err
	}
	var records []mdns.RR
	dup := map[string]struct{}{}
	for _, e := range es {
		if t, _ := e.hostType(); t != mdns.TypeCNAME {
			continue
		}
		if _, ok := dup[e.host]; !ok {
			dup[e.host] = struct{}{}
			records = append(records, &mdns.PTR{Hdr: hdr(q.qname, mdns.TypePTR, e.ttl), Ptr: e.host})
		}
	}
	return records, nil
}

type srvKey struct {
	name, addr string
	port       int
}

// srv answers SRV with the targets' addresses in the additional section; weights are split
// evenly as CoreDNS does (100 shared out, floor, at least 1).
func (a *answerer) srv(q question) ([]mdns.RR, []mdns.RR, error) {
	es, err := a.services(q)
	if err != nil {
		return nil, nil, err
	}
	weight := uint16(1)
	if len(es) > 0 {
		weight = max(uint16(math.Floor(100.0/float64(100*len(es))*100)), 1)
	}
	var records, extra []mdns.RR
	dup := map[srvKey]struct{}{}
	for _, e := range es {
		if e.port == -1 {
			continue
		}
		t, ip := e.hostType()
		if t != mdns.TypeA && t != mdns.TypeAAAA {
			continue
		}
		target := mdns.Fqdn(e.name)
		if k := (srvKey{name: target, port: e.port}); !has(dup, k) {
			records = append(records, &mdns.SRV{Hdr: hdr(q.qname, mdns.TypeSRV, e.ttl), Weight: weight,
				Port: uint16(e.port), Target: target}) // #nosec G115 -- ports fit in uint16
		}
		if k := (srvKey{name: target, addr: e.host}); !has(dup, k) {
			extra = append(extra, addressRR(target, ip, e.ttl))
		}
	}
	return records, extra, nil
}

// has reports whether k was in m, adding it.
func has(m map[srvKey]struct{}, k srvKey) bool {
	_, ok := m[k]
	m[k] = struct{}{}
	return ok
}

func addressRR(name string, ip netip.Addr, ttl uint32) mdns.RR {
	if ip.Is4() {
		return &mdns.A{Hdr: hdr(name, mdns.TypeA, ttl), A: ip.AsSlice()}
	}
	return &mdns.AAAA{Hdr: hdr(name, mdns.TypeAAAA, ttl), AAAA: ip.AsSlice()}
}

// ns answers NS at a zone apex with the name servers' addresses in the additional section.
func (a *answerer) ns(q question) ([]mdns.RR, []mdns.RR) {
	var records, extra []mdns.RR
	seen := map[string]bool{}
	for _, n := range a.nsAddrs(q.zone) {
		extra = append(extra, addressRR(n.name, n.ip, a.ttl))
		if seen[n.name] {
			continue
		}
		seen[n.name] = true
		records = append(records, &mdns.NS{Hdr: hdr(q.qname, mdns.TypeNS, a.ttl), Ns: n.name})
	}
	return records, extra
}
