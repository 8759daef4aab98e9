package proxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// facts are what the model needs to know besides the objects.
type facts struct {
	fam          fam
	node         string
	clusterCIDRs []netip.Prefix
}

// elemKey names one element of one of the table's global sets or maps.
type elemKey struct{ set, key string }

// svcState is the desired state one Service contributes to the table, as plain data.
type svcState struct {
	chains map[string][]string // chain name → rules, in order
	sets   map[string]setDef   // affinity sets by name
	elems  map[elemKey]string  // global set/map element → map value ("" in sets)
	udp    map[string]udpPort  // service port id → what conntrack cleanup needs
}

// setDef is an affinity set: client addresses of one type, each forgotten timeoutSeconds
// after its last packet.
type setDef struct {
	typ            string
	timeoutSeconds int32
}

// udpPort is a UDP service port's entry points and endpoints.
type udpPort struct {
	frontends []netip.AddrPort
	nodePort  uint16
	endpoints []netip.AddrPort
}

func newSvcState() *svcState {
	return &svcState{chains: map[string][]string{}, sets: map[string]setDef{}, elems: map[elemKey]string{}, udp: map[string]udpPort{}}
}

// buildService is the model: the desired state of one Service and its slices. ExternalName
// services are not proxied and contribute nothing.
func buildService(f facts, svc *corev1.Service, slices []*discoveryv1.EndpointSlice) *svcState {
	st := newSvcState()
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return st
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		eps := portEndpoints(f.fam, sp, slices, f.node)
		newPortModel(f, svc, sp, eps).build(st)
	}
	return st
}

// portModel is one service port with everything the rules depend on resolved.
type portModel struct {
	f           facts
	id, proto   string
	port        uint16
	clusterIPs  []netip.Addr
	externalIPs []netip.Addr // spec.externalIPs and LoadBalancer ingress IPs
	lbIPs       []netip.Addr
	nodePort    uint16
	ranges      []netip.Prefix
	hasRanges   bool
	all, local  []netip.AddrPort
	itpLocal    bool
	etpLocal    bool
	affinity    int32                   // ClientIP timeout in seconds, 0 without affinity
	chainNames  [len(chainKinds)]string // by chainKind, made on first use (a sha256 each)
}

// chainKind indexes chainKinds, the per-port chains' name prefixes.
type chainKind int

const (
	kindSvc chainKind = iota
	kindLocal
	kindExt
	kindFw
)

var chainKinds = [...]string{kindSvc: "svc", kindLocal: "local", kindExt: "ext", kindFw: "fw"}

func newPortModel(f facts, svc *corev1.Service, sp *corev1.ServicePort, eps []endpoint) *portModel {
	m := &portModel{
		f: f, id: portID(svc.Namespace, svc.Name, sp), proto: protoName(sp.Protocol), port: uint16(sp.Port),
		clusterIPs: familyIPs(f.fam, clusterIPsOf(svc)),
		all:        usable(eps), local: usable(localOnly(eps)),
		itpLocal: svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
		affinity: affinityTimeout(svc),
	}
	m.externalIPs = familyIPs(f.fam, svc.Spec.ExternalIPs)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		m.lbIPs = familyIPs(f.fam, ingressIPs(svc))
		m.externalIPs = append(m.externalIPs, m.lbIPs...)
		// Ranges of the other family restrict nothing here, as in kube-proxy, whose service
		// tracker keeps only the proxy's own family.
		m.ranges = familyPrefixes(f.fam, svc.Spec.LoadBalancerSourceRanges)
		m.hasRanges = len(m.ranges) > 0
	}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		m.nodePort = uint16(sp.NodePort)
	}
	m.etpLocal = m.hasExternal() && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	return m
}

func (m *portModel) hasExternal() bool { return len(m.externalIPs) > 0 || m.nodePort != 0 }

func (m *portModel) internal() []netip.AddrPort {
	if m.itpLocal {
		return m.local
	}
	return m.all
}

func (m *portModel) svcChain() string   { return m.chain(kindSvc) }
func (m *portModel) localChain() string { return m.chain(kindLocal) }
func (m *portModel) extChain() string   { return m.chain(kindExt) }
func (m *portModel) fwChain() string    { return m.chain(kindFw) }

func (m *portModel) chain(kind chainKind) string {
	if m.chainNames[kind] == "" {
		m.chainNames[kind] = chainName(chainKinds[kind], m.id)
	}
	return m.chainNames[kind]
}

// build adds the port's chains, affinity sets and elements to st.
func (m *portModel) build(st *svcState) {
	m.chains(st)
	m.clusterIPElems(st)
	m.externalElems(st)
	m.firewall(st)
	for _, e := range append(append([]netip.AddrPort{}, m.all...), m.local...) {
		st.elems[elemKey{setHairpin, e.Addr().String() + " . " + e.Addr().String()}] = ""
	}
	if m.proto == "udp" {
		m.udpInfo(st)
	}
}

// chains: "svc" (all usable endpoints; off-cluster sources of ClusterIPs are marked for
// masquerade once, in the services chain), "local" (this
// node's endpoints, client IP kept) and "ext" (the entry of NodePort, external and
// LoadBalancer IPs), each only when something jumps to it.
func (m *portModel) chains(st *svcState) {
	hasCIP := len(m.clusterIPs) > 0
	if len(m.all) > 0 && (hasCIP && !m.itpLocal || m.hasExternal()) {
		st.chains[m.svcChain()] = m.cascade(st, m.all)
	}
	if len(m.local) > 0 && (hasCIP && m.itpLocal || m.etpLocal) {
		st.chains[m.localChain()] = m.cascade(st, m.local)
	}
	if len(m.all) > 0 && m.hasExternal() {
		st.chains[m.extChain()] = m.extRules()
	}
}

const setMasqMark = "meta mark set meta mark | " + masqMark

// cascade picks one endpoint at random with plain rules: rule i matches with probability
// 1/(n-i) of what reaches it, which is uniform overall, and needs no set or map. Affinity
// hits come first; every DNAT refreshes the client's entry in its endpoint's set.
func (m *portModel) cascade(st *svcState, eps []netip.AddrPort) []string {
	var rules []string
	dnat := func(e netip.AddrPort) string { return "meta l4proto " + m.proto + " dnat to " + e.String() }
	if m.affinity > 0 {
		for _, e := range eps {
			set := affinitySetName(m.id, e, m.affinity)
			st.sets[set] = setDef{typ: m.f.fam.addrType, timeoutSeconds: m.affinity}
			rules = append(rules, fmt.Sprintf("%s saddr @%s %s %s", m.f.fam.kw, set, m.update(set), dnat(e)))
		}
	}
	for i, e := range eps {
		var b strings.Builder
		if n := len(eps) - i; n > 1 {
			b.WriteString("numgen random mod " + strconv.Itoa(n) + " 0 ")
		}
		if m.affinity > 0 {
			b.WriteString(m.update(affinitySetName(m.id, e, m.affinity)) + " ")
		}
		b.WriteString(dnat(e))
		rules = append(rules, b.String())
	}
	return rules
}

func (m *portModel) update(set string) string {
	return fmt.Sprintf("update @%s { %s saddr }", set, m.f.fam.kw)
}

// extRules: policy Cluster masquerades and joins the svc chain. Policy Local keeps the
// client's address and uses this node's endpoints, except for pods and the node itself,
// which take the svc chain (kube-proxy's short-circuit); no local endpoint drops.
func (m *portModel) extRules() []string {
	if !m.etpLocal {
		return []string{setMasqMark, "goto " + m.svcChain()}
	}
	var rules []string
	if len(m.f.clusterCIDRs) > 0 {
		rules = append(rules, fmt.Sprintf("%s saddr %s goto %s", m.f.fam.kw, prefixSet(m.f.clusterCIDRs), m.svcChain()))
	}
	rules = append(rules, "fib saddr type local "+setMasqMark+" goto "+m.svcChain())
	if len(m.local) > 0 {
		return append(rules, "goto "+m.localChain())
	}
	return append(rules, verdictDrop)
}

func (m *portModel) key(a netip.Addr) string {
	return a.String() + " . " + m.proto + " . " + strconv.Itoa(int(m.port))
}

func (m *portModel) clusterIPElems(st *svcState) {
	target := "goto " + m.svcChain()
	if m.itpLocal {
		target = "goto " + m.localChain()
	}
	for _, ip := range m.clusterIPs {
		st.elems[elemKey{setClusterIPs, ip.String()}] = ""
		switch {
		case len(m.internal()) > 0:
			st.elems[elemKey{mapServiceIPs, m.key(ip)}] = target
		case len(m.all) > 0: // internalTrafficPolicy Local with no endpoint here
			st.elems[elemKey{mapNoEndpointServices, m.key(ip)}] = verdictDrop
		default:
			st.elems[elemKey{mapNoEndpointServices, m.key(ip)}] = verdictReject
		}
	}
}

func (m *portModel) externalElems(st *svcState) {
	has := len(m.all) > 0
	for _, ip := range m.externalIPs {
		if has {
			st.elems[elemKey{mapServiceIPs, m.key(ip)}] = "goto " + m.extChain()
		} else {
			st.elems[elemKey{mapNoEndpointServices, m.key(ip)}] = verdictReject
		}
	}
	if m.nodePort == 0 {
		return
	}
	k := elemKey{mapServiceNodePorts, fmt.Sprintf("%s . %d", m.proto, m.nodePort)}
	if has {
		st.elems[k] = "goto " + m.extChain()
	} else {
		st.elems[elemKey{mapNoEndpointNodePort, k.key}] = verdictReject
	}
}

// firewall: loadBalancerSourceRanges admit their sources to the LoadBalancer IPs and drop
// the rest (before DNAT, so the drop does not depend on endpoints).
func (m *portModel) firewall(st *svcState) {
	if !m.hasRanges || len(m.lbIPs) == 0 {
		return
	}
	var rules []string
	for _, r := range m.ranges {
		rules = append(rules, fmt.Sprintf("%s saddr %s return", m.f.fam.kw, r.Masked()))
	}
	st.chains[m.fwChain()] = append(rules, verdictDrop)
	for _, ip := range m.lbIPs {
		st.elems[elemKey{mapFirewallIPs, m.key(ip)}] = "goto " + m.fwChain()
	}
}

func (m *portModel) udpInfo(st *svcState) {
	u := udpPort{nodePort: m.nodePort}
	for _, ip := range append(append([]netip.Addr{}, m.clusterIPs...), m.externalIPs...) {
		u.frontends = append(u.frontends, netip.AddrPortFrom(ip, m.port))
	}
	u.endpoints = append(append(u.endpoints, m.all...), m.local...)
	st.udp[m.id] = u
}

func clusterIPsOf(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	return []string{svc.Spec.ClusterIP}
}

func ingressIPs(svc *corev1.Service) []string {
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IPMode != nil && *in.IPMode == corev1.LoadBalancerIPModeProxy {
			continue // the load balancer proxies; traffic arrives for the node, not this IP
		}
		out = append(out, in.IP)
	}
	return out
}

// familyIPs keeps the parseable addresses of family f ("None" and "" fall out here).
func familyIPs(f fam, ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, ok := f.parse(s); ok {
			out = append(out, a)
		}
	}
	return out
}

func familyPrefixes(f fam, ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err == nil && f.has(p.Addr()) {
			out = append(out, p.Masked())
		}
	}
	return out
}

const defaultAffinitySeconds = 10800

func affinityTimeout(svc *corev1.Service) int32 {
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		return 0
	}
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
		return *c.ClientIP.TimeoutSeconds
	}
	return defaultAffinitySeconds
}
