package dns

import (
	"errors"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// This file finds the "services" (CoreDNS's msg.Service: a host that is an address or a name,
// a port, an owner name) behind a question, exactly as CoreDNS's kubernetes plugin does; the
// record builders in answer.go turn them into RRs.

// errName is a name error (CoreDNS's errNoItems, errNsNotExposed, errInvalidRequest): NXDOMAIN,
// or the next handler in a fallthrough zone.
var errName = errors.New("no such name")

const (
	labelSvc     = "svc"
	labelPod     = "pod"
	defaultNS    = "ns.dns."
	schemaVer    = "1.1.0"
	schemaTXTTTL = 28800
)

// entry is one candidate record source.
type entry struct {
	host string // an IP address, or a domain name (CNAME target / PTR target)
	port int
	name string // owner derived from the object (SRV, NS target); fqdn
	text string
	ttl  uint32
}

// hostType says what host is: A or AAAA (with the address), TXT, or CNAME.
func (e entry) hostType() (uint16, netip.Addr) {
	ip, err := netip.ParseAddr(e.host)
	switch {
	case err != nil && e.text != "":
		return mdns.TypeTXT, ip
	case err != nil:
		return mdns.TypeCNAME, ip
	case ip.Is4() || ip.Is4In6():
		return mdns.TypeA, ip.Unmap()
	default:
		return mdns.TypeAAAA, ip
	}
}

// question is what the lookups see of a request.
type question struct {
	name  string // lower case
	qname string // as asked
	zone  string // the matched zone, in the question's case
	qtype uint16
}

func (q question) with(name string, qtype uint16) question {
	name = mdns.Fqdn(name)
	return question{name: strings.ToLower(name), qname: name, zone: q.zone, qtype: qtype}
}

// request is a parsed cluster name (CoreDNS's recordRequest).
type request struct {
	port, protocol, endpoint, service, namespace, podOrSvc string
}

// parseRequest splits name (lower case, inside zone) as CoreDNS does:
// [_port._protocol. | endpoint.] service.namespace.(svc|pod).zone
func parseRequest(name, zone string) (request, error) {
	var r request
	base := trimZone(name, zone)
	if base == "" || base == labelSvc || base == labelPod {
		return r, nil
	}
	segs := mdns.SplitDomainName(base)
	last := len(segs) - 1
	if last < 0 {
		return r, nil
	}
	r.podOrSvc = segs[last]
	if r.podOrSvc != labelPod && r.podOrSvc != labelSvc {
		return r, errName
	}
	if last--; last < 0 {
		return r, nil
	}
	r.namespace = segs[last]
	if last--; last < 0 {
		return r, nil
	}
	r.service = segs[last]
	if last--; last < 0 {
		return r, nil
	}
	switch last {
	case 0:
		r.endpoint = segs[0]
	case 1:
		r.protocol = strings.TrimPrefix(segs[1], "_")
		r.port = strings.TrimPrefix(segs[0], "_")
	default:
		return r, errName
	}
	return r, nil
}

// trimZone is name without the zone and its dot ("" for the apex).
func trimZone(name, zone string) string {
	if len(name) <= len(zone) {
		return ""
	}
	return name[:len(name)-len(zone)-1]
}

func match(a, b string) bool { return a == b || strings.EqualFold(a, b) }

func matchPortProto(aPort, bPort, aProto, bProto string) bool {
	return (aPort == "" || match(aPort, bPort)) && (aProto == "" || match(aProto, bProto))
}

// isReverse is 1 for in-addr.arpa names, 2 for ip6.arpa names, else 0.
func isReverse(name string) int {
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa."):
		return 1
	case strings.HasSuffix(name, ".ip6.arpa."):
		return 2
	}
	return 0
}

// addressFromReverse is the address a full reverse name stands for, in canonical text form.
func addressFromReverse(name string) string {
	var labels []string
	switch isReverse(name) {
	case 1:
		labels = strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
	case 2:
		labels = strings.Split(strings.TrimSuffix(name, ".ip6.arpa."), ".")
	default:
		return ""
	}
	slicesReverse(labels)
	if isReverse(name) == 1 {
		if len(labels) != 4 {
			return ""
		}
		ip, err := netip.ParseAddr(strings.Join(labels, "."))
		if err != nil || !ip.Is4() {
			return ""
		}
		return ip.String()
	}
	if len(labels) != 32 {
		return ""
	}
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strings.Join(labels[i*4:i*4+4], "")
	}
	ip, err := netip.ParseAddr(strings.Join(groups, ":"))
	if err != nil {
		return ""
	}
	if ip.Is4In6() {
		return ip.Unmap().String()
	}
	return ip.String()
}

func slicesReverse(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// endpointHostname is an endpoint's DNS label: its hostname, or its address with dashes.
func endpointHostname(a addrRec) string {
	if a.hostname != "" {
		return a.hostname
	}
	if strings.Contains(a.ip, ".") {
		return strings.ReplaceAll(a.ip, ".", "-")
	}
	if strings.Contains(a.ip, ":") {
		h := strings.ReplaceAll(a.ip, ":", "-")
		if strings.HasSuffix(h, "-") {
			return h + "0"
		}
		return h
	}
	return ""
}

// lookup answers from one snapshot.
type lookup struct {
	snap        *snapshot
	ttl         uint32
	primaryZone string
	localIPs    []netip.Addr
	// upstream resolves names outside the cluster zone for CNAME chasing (CoreDNS resolves
	// them through itself); nil: such CNAMEs are left out, as CoreDNS does when that fails.
	upstream func(name string, qtype uint16) *mdns.Msg
	depth    int
}

func (l *lookup) namespaceExposed(ns string) bool {
	_, ok := l.snap.namespaces[ns]
	return ok
}

// services is CoreDNS's Kubernetes.Services.
func (l *lookup) services(q question) ([]entry, error) {
	switch q.qtype {
	case mdns.TypeTXT:
		if segs := mdns.SplitDomainName(trimZone(q.name, q.zone)); len(segs) == 1 && segs[0] == "dns-version" {
			return []entry{{text: schemaVer, ttl: schemaTXTTTL}}, nil
		}
		if es, _ := l.records(q); len(es) > 0 {
			return nil, nil
		}
		return nil, errName
	case mdns.TypeNS:
		var es []entry
		for _, a := range l.nsAddrs(q.zone) {
			es = append(es, entry{host: a.ip.String(), name: a.name, ttl: l.ttl})
		}
		return es, nil
	}
	if strings.Index(q.name, defaultNS) == 0 && strings.Index(q.name, q.zone) == len(defaultNS) {
		var es []entry
		for _, a := range l.nsAddrs(q.zone) {
			if a.ip.Is4() == (q.qtype == mdns.TypeA) && (q.qtype == mdns.TypeA || q.qtype == mdns.TypeAAAA) {
				es = append(es, entry{host: a.ip.String(), name: q.qname, ttl: l.ttl})
			}
		}
		return es, nil
	}
	es, err := l.records(q)
	if q.qtype != mdns.TypeSRV {
		return es, err
	}
	internal := es[:0:0]
	for _, e := range es {
		if t, _ := e.hostType(); t != mdns.TypeCNAME {
			internal = append(internal, e)
		}
	}
	return internal, err
}

// records is CoreDNS's Kubernetes.Records.
func (l *lookup) records(q question) ([]entry, error) {
	r, err := parseRequest(q.name, q.zone)
	if err != nil {
		return nil, err
	}
	if r.podOrSvc == "" {
		return nil, nil
	}
	if isReverse(q.name) > 0 {
		return nil, errName
	}
	if !l.namespaceExposed(r.namespace) {
		return nil, errName
	}
	if r.podOrSvc == labelPod {
		return l.findPods(r, q.zone)
	}
	return l.findServices(r, q.zone)
}

func (l *lookup) findPods(r request, zone string) ([]entry, error) {
	if r.service == "" {
		return nil, nil
	}
	var ip string
	if strings.Count(r.service, "-") == 3 && !strings.Contains(r.service, "--") {
		ip = strings.ReplaceAll(r.service, "-", ".")
	} else {
		ip = strings.ReplaceAll(r.service, "-", ":")
	}
	var es []entry
	for _, p := range l.snap.podsByIP[ip] {
		if p.ip == ip && match(r.namespace, p.ns) {
			es = append(es, entry{host: ip, name: r.service + "." + r.namespace + "." + labelPod + "." + zone, ttl: l.ttl})
		}
	}
	if len(es) == 0 {
		return nil, errName
	}
	return es, nil
}

// findServices is CoreDNS's findServices for one service name.
func (l *lookup) findServices(r request, zone string) ([]entry, error) {
	if r.service == "" {
		return nil, nil
	}
	svc := l.snap.services[r.service+"."+r.namespace]
	if svc == nil {
		return nil, errName
	}
	svcName := svc.name + "." + svc.ns + "." + labelSvc + "." + zone
	err := errName
	var es []entry
	switch {
	case svc.typ == "ExternalName":
		if r.endpoint != "" || r.port != "" || r.protocol != "" {
			return nil, errName
		}
		e := entry{host: svc.externalName, name: svcName, ttl: l.ttl}
		if t, _ := e.hostType(); t == mdns.TypeCNAME {
			return []entry{e}, nil
		}
		return nil, errName
	case svc.headless() || r.endpoint != "":
		for _, sl := range l.snap.slices[svc.name+"."+svc.ns] {
			for _, a := range sl.addrs {
				host := endpointHostname(a)
				if r.endpoint != "" && !match(r.endpoint, host) {
					continue
				}
				for _, p := range sl.ports {
					if !matchPortProto(r.port, p.name, r.protocol, p.proto) {
						continue
					}
					err = nil
					es = append(es, entry{host: a.ip, port: int(p.port), name: host + "." + svcName, ttl: l.ttl})
				}
			}
		}
	default:
		for _, p := range svc.ports {
			if !matchPortProto(r.port, p.name, r.protocol, p.proto) {
				continue
			}
			err = nil
			for _, ip := range svc.clusterIPs {
				es = append(es, entry{host: ip, port: int(p.port), name: svcName, ttl: l.ttl})
			}
		}
	}
	return es, err
}

// reverse is CoreDNS's Kubernetes.Reverse: PTR sources for a reverse name.
func (l *lookup) reverse(q question) ([]entry, error) {
	ip := addressFromReverse(q.name)
	if ip == "" {
		_, err := l.records(q)
		return nil, err
	}
	if svc := l.snap.svcByIP[ip]; svc != nil {
		return []entry{{host: svc.name + "." + svc.ns + "." + labelSvc + "." + l.primaryZone, ttl: l.ttl}}, nil
	}
	var es []entry
	for _, sl := range l.snap.slicesByIP[ip] {
		for _, a := range sl.addrs {
			if a.ip == ip {
				es = append(es, entry{host: endpointHostname(a) + "." + sl.service + "." + sl.ns + "." + labelSvc + "." + l.primaryZone, ttl: l.ttl})
			}
		}
	}
	if len(es) == 0 {
		return nil, errName
	}
	return es, nil
}

type nsAddr struct {
	name string
	ip   netip.Addr
}

// nsAddrs are the name servers of zone: the services whose endpoints are this server's own
// addresses, or ns.dns.<zone> at those addresses when no endpoint is ours (CoreDNS's nsAddrs).
func (l *lookup) nsAddrs(zone string) []nsAddr {
	var out []nsAddr
	found := false
	for _, local := range l.localIPs {
		for _, sl := range l.snap.slicesByIP[local.String()] {
			found = true
			svc := l.snap.services[sl.service+"."+sl.ns]
			if svc == nil {
				continue
			}
			svcName := svc.name + "." + svc.ns + "." + labelSvc + "." + zone
			if svc.headless() {
				for _, a := range sl.addrs {
					if ip, err := netip.ParseAddr(a.ip); err == nil {
						out = append(out, nsAddr{endpointHostname(a) + "." + svcName, ip.Unmap()})
					}
				}
				continue
			}
			for _, c := range svc.clusterIPs {
				if ip, err := netip.ParseAddr(c); err == nil {
					out = append(out, nsAddr{svcName, ip.Unmap()})
				}
			}
		}
	}
	if !found {
		for _, local := range l.localIPs {
			out = append(out, nsAddr{defaultNS + zone, local})
		}
	}
	return out
}
