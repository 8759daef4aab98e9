package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"
)

// The packet walk: an interpreter of the rules the proxy writes (the vocabulary of base.go and
// model.go, not nft's whole language) that follows a connection's first packet through the
// hooks of the Fake's table as the kernel would, and reports what becomes of it. It answers
// questions the literal rule texts cannot: does a client outside the node reach a ClusterIP,
// which endpoints can a NodePort pick, is the source masqueraded. A rule it does not know fails
// the test, so it cannot silently pass a new kind of rule.

// walkPacket is a connection's first packet. fromNode: the node itself sends it (output hook);
// otherwise it arrives (prerouting), from a pod or from outside.
type walkPacket struct {
	src, dst netip.Addr
	proto    string
	dport    int
	fromNode bool
}

// walkEnv is what the kernel knows beside the table: the node's own addresses (fib ... type
// local).
type walkEnv struct {
	local []netip.Addr
}

// outcome is one possible fate of the packet (numgen makes several).
type outcome struct {
	verdict string // accept, drop or reject
	dnat    string // ip:port, or empty
	masq    bool
}

func (o outcome) String() string {
	s := o.verdict
	if o.dnat != "" {
		s += " dnat " + o.dnat
	}
	if o.masq {
		s += " masquerade"
	}
	return s
}

// walkState is the packet as the rules have changed it so far on one branch.
type walkState struct {
	pkt     walkPacket
	mark    uint32
	dnat    string
	masq    bool
	verdict string // set once a terminal statement ran
}

type walker struct {
	t    *testing.T
	tb   *knftables.FakeTable
	env  walkEnv
	hook string // nat or filter: nat statements only act in nat chains
}

// walk follows the packet through the hooks in priority order and returns every outcome.
func walk(t *testing.T, fake *knftables.Fake, env walkEnv, pkt walkPacket) []string {
	t.Helper()
	w := &walker{t: t, tb: fake.Table, env: env}
	hooks := []string{"filter-prerouting", "nat-prerouting", "route", "nat-postrouting"}
	if pkt.fromNode {
		hooks = []string{"filter-output", "nat-output", "filter-output-post-dnat", "nat-postrouting"}
	}
	states := []walkState{{pkt: pkt}}
	for _, h := range hooks {
		var next []walkState
		for _, s := range states {
			if s.verdict != "" {
				next = append(next, s)
				continue
			}
			chain := h
			if h == "route" {
				// After DNAT the kernel routes: to the node itself (input) or onwards (forward).
				chain = "filter-forward"
				if w.isLocal(w.dst(s)) {
					chain = "filter-input"
				}
			}
			for _, r := range w.runBase(chain, s) {
				if r.verdict == "accept" {
					r.verdict = "" // accepted by this hook: on to the next
				}
				next = append(next, r)
			}
		}
		states = next
	}
	var out []string
	for _, s := range states {
		v := s.verdict
		if v == "" {
			v = "accept"
		}
		o := outcome{verdict: v, dnat: s.dnat, masq: s.masq}.String()
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

func (w *walker) dst(s walkState) netip.Addr {
	if s.dnat != "" {
		return netip.MustParseAddrPort(s.dnat).Addr()
	}
	return s.pkt.dst
}

// addr is the packet's saddr or daddr (after any DNAT).
func (w *walker) addr(which string, s walkState) netip.Addr {
	if which == "daddr" {
		return w.dst(s)
	}
	return s.pkt.src
}

func (w *walker) dport(s walkState) int {
	if s.dnat != "" {
		return int(netip.MustParseAddrPort(s.dnat).Port())
	}
	return s.pkt.dport
}

func (w *walker) isLocal(a netip.Addr) bool {
	return a.IsLoopback() || slices.Contains(w.env.local, a)
}

// runBase runs a base chain; a chain that ends without a verdict accepts (policy accept).
func (w *walker) runBase(name string, s walkState) []walkState {
	w.hook = strings.SplitN(name, "-", 2)[0]
	var out []walkState
	for _, r := range w.runChain(name, s) {
		if r.verdict == "" || r.verdict == "return" {
			r.verdict = "accept"
		}
		out = append(out, r)
	}
	return out
}

// runChain runs the rules of a chain from the first; a result's verdict is empty or "return"
// when the chain ended without a terminal one.
func (w *walker) runChain(name string, s walkState) []walkState {
	ch := w.tb.Chains[name]
	if ch == nil {
		w.t.Fatalf("packet walk: no chain %s", name)
	}
	return w.runRules(ch.Rules, s)
}

func (w *walker) runRules(rules []*knftables.Rule, s walkState) []walkState {
	if len(rules) == 0 {
		return []walkState{s}
	}
	var out []walkState
	for _, r := range w.runRule(strings.Fields(rules[0].Rule), s) {
		if r.verdict != "" {
			out = append(out, r)
			continue
		}
		out = append(out, w.runRules(rules[1:], r)...)
	}
	return out
}

// runRule interprets one rule's tokens: matches narrow (a failed one ends the rule, state
// unchanged), statements change the state, verdicts end the chain.
func (w *walker) runRule(tok []string, s walkState) []walkState {
	if len(tok) == 0 {
		return []walkState{s}
	}
	next := func(n int, st walkState) []walkState { return w.runRule(tok[n:], st) }
	miss := []walkState{s}
	switch {
	case is(tok, "ct", "state", "new"):
		return next(3, s) // the walk follows first packets
	case is(tok, "ct", "status", "dnat"):
		if s.dnat == "" {
			return miss
		}
		return next(3, s)
	case is(tok, "numgen", "random", "mod"):
		// Random: both ways are possible.
		mod, _ := strconv.Atoi(tok[3])
		if mod < 1 || tok[4] == "" {
			w.t.Fatalf("packet walk: bad numgen in %q", tok)
		}
		return append(next(5, s), s)
	case is(tok, "meta", "l4proto") && len(tok) > 2 && (tok[2] == "tcp" || tok[2] == "udp" || tok[2] == "sctp"):
		if s.pkt.proto != tok[2] {
			return miss
		}
		return next(3, s)
	case is(tok, "meta", "mark", "&"):
		// meta mark & M == V
		m, v := parseMark(w.t, tok[3]), parseMark(w.t, tok[5])
		if s.mark&m != v {
			return miss
		}
		return next(6, s)
	case is(tok, "meta", "mark", "set", "meta", "mark"):
		m := parseMark(w.t, tok[6])
		switch tok[5] {
		case "|":
			s.mark |= m
		case "^":
			s.mark ^= m
		default:
			w.t.Fatalf("packet walk: mark operator %q", tok[5])
		}
		return next(7, s)
	case is(tok, "fib"):
		// fib saddr|daddr type [!=] local
		a := w.addr(tok[1], s)
		n, neg := 4, false
		if tok[3] == "!=" {
			n, neg = 5, true
		}
		if tok[n-1] != "local" {
			w.t.Fatalf("packet walk: fib type %q", tok[n-1])
		}
		if w.isLocal(a) == neg {
			return miss
		}
		return next(n, s)
	case is(tok, "ip", "saddr", ".", "ip", "daddr") && strings.HasPrefix(at(tok, 5), "@"):
		if !w.inSet(tok[5][1:], s.pkt.src.String()+" . "+w.dst(s).String()) {
			return miss
		}
		return next(6, s)
	case is(tok, "ip", "daddr", ".", "meta", "l4proto", ".", "th", "dport", "vmap"):
		return w.vmap(tok[9], fmt.Sprintf("%s . %s . %d", w.dst(s), s.pkt.proto, w.dport(s)), tok[10:], s)
	case is(tok, "meta", "l4proto", ".", "th", "dport", "vmap"):
		return w.vmap(tok[6], fmt.Sprintf("%s . %d", s.pkt.proto, w.dport(s)), tok[7:], s)
	case is(tok, "ip", "saddr") || is(tok, "ip", "daddr"):
		a := w.addr(tok[1], s)
		n, neg := 2, false
		if tok[2] == "!=" {
			n, neg = 3, true
		}
		match, used := w.addrMatch(tok[n:], a)
		if match == neg {
			return miss
		}
		return next(n+used, s)
	case is(tok, "update") && at(tok, 2) == "{":
		// Affinity bookkeeping: no effect on this packet.
		end := slices.Index(tok, "}")
		return next(end+1, s)
	case is(tok, "dnat", "to"):
		if w.hook != "nat" {
			w.t.Fatalf("packet walk: dnat outside a nat chain")
		}
		s.dnat, s.verdict = tok[2], "accept"
		return []walkState{s}
	case is(tok, "masquerade"):
		s.masq, s.verdict = true, "accept"
		return []walkState{s}
	case is(tok, "reject"):
		s.verdict = "reject"
		return []walkState{s}
	case is(tok, "drop"), is(tok, "accept"), is(tok, "return"):
		s.verdict = tok[0]
		return []walkState{s}
	case is(tok, "jump"), is(tok, "goto"):
		return w.call(tok[0], tok[1], s)
	}
	w.t.Fatalf("packet walk: unknown rule text %q", strings.Join(tok, " "))
	return nil
}

// call runs a chain by jump or goto. After a jump the calling chain goes on when the called one
// returns; after a goto the calling chain is done too, so its "return" is passed up.
func (w *walker) call(kind, chain string, s walkState) []walkState {
	var out []walkState
	for _, r := range w.runChain(chain, s) {
		if r.verdict == "return" || r.verdict == "" {
			if kind == "goto" {
				r.verdict = "return"
			} else {
				r.verdict = ""
			}
		}
		out = append(out, r)
	}
	return out
}

// vmap looks key up in a verdict map: no element, the rule does not match.
func (w *walker) vmap(ref, key string, rest []string, s walkState) []walkState {
	if len(rest) != 0 || !strings.HasPrefix(ref, "@") {
		w.t.Fatalf("packet walk: vmap %s %q", ref, rest)
	}
	m := w.tb.Maps[ref[1:]]
	if m == nil {
		w.t.Fatalf("packet walk: no map %s", ref)
	}
	for _, e := range m.Elements {
		if strings.Join(e.Key, " . ") == key {
			return w.runRule(strings.Fields(strings.Join(e.Value, " ")), s)
		}
	}
	return []walkState{s}
}

func (w *walker) inSet(name, key string) bool {
	set := w.tb.Sets[name]
	if set == nil {
		w.t.Fatalf("packet walk: no set %s", name)
	}
	for _, e := range set.Elements {
		if strings.Join(e.Key, " . ") == key {
			return true
		}
	}
	return false
}

// addrMatch matches a against "@set", a prefix or address, or "{ p1, p2 }"; used is how many
// tokens that took.
func (w *walker) addrMatch(tok []string, a netip.Addr) (match bool, used int) {
	if strings.HasPrefix(tok[0], "@") {
		return w.inSet(tok[0][1:], a.String()), 1
	}
	items, used := []string{tok[0]}, 1
	if tok[0] == "{" {
		end := slices.Index(tok, "}")
		items, used = nil, end+1
		for _, it := range tok[1:end] {
			items = append(items, strings.TrimSuffix(it, ","))
		}
	}
	for _, it := range items {
		p, err := netip.ParsePrefix(it)
		if err != nil {
			addr, aerr := netip.ParseAddr(it)
			if aerr != nil {
				w.t.Fatalf("packet walk: address %q", it)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		if p.Contains(a) {
			return true, used
		}
	}
	return false, used
}

func parseMark(t *testing.T, s string) uint32 {
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("packet walk: mark %q", s)
	}
	return uint32(v)
}

// is says whether tok starts with words.
func is(tok []string, words ...string) bool {
	return len(tok) >= len(words) && slices.Equal(tok[:len(words)], words)
}

func at(tok []string, i int) string {
	if i < len(tok) {
		return tok[i]
	}
	return ""
}

// TestPacketWalk programs a node's worth of services into the Fake and walks first packets
// from pods, from the node and from outside through the table.
func TestPacketWalk(t *testing.T) {
	p, fake, _ := newTestProxy(t, nil)
	nodePort := func(name string, port, nodePort int32, opts ...svcOpt) *corev1.Service {
		return service(name, "", nil, append([]svcOpt{func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: port, NodePort: nodePort}}
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(8080)
		}}, opts...)...)
	}
	withIP := func(ip string) svcOpt {
		return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip} }
	}
	two := func(svc string) *discoveryv1.EndpointSlice {
		return slice(svc, svc+"-1", web, ep("10.244.0.5"), ep("10.244.0.6,other"))
	}
	p.SetService(nodePort("web", 80, 32000, withIP("10.96.0.20")))
	p.SetSlice(two("web"))
	p.SetService(service("dns", "10.96.0.10", []corev1.ServicePort{udp("dns", 53, 53)}))
	p.SetSlice(slice("dns", "dns-1", []discoveryv1.EndpointPort{sport("dns", corev1.ProtocolUDP, 53)}, ep("10.244.0.7")))
	p.SetService(service("empty", "10.96.0.30", []corev1.ServicePort{tcp("http", 80, 8080)}))
	p.SetService(nodePort("lb", 80, 32001, withIP("10.96.0.40"), func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/24"}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.200"}}
	}))
	p.SetSlice(two("lb"))
	p.SetService(nodePort("local", 80, 32002, withIP("10.96.0.50"), func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}))
	p.SetSlice(two("local"))
	mustSync(t, p)

	env := walkEnv{local: []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("10.244.0.1")}}
	const (
		pod     = "10.244.0.9"
		node    = "192.168.1.10"
		outside = "192.168.1.50"
	)
	both := "accept dnat 10.244.0.5:8080 | accept dnat 10.244.0.6:8080"
	bothMasq := "accept dnat 10.244.0.5:8080 masquerade | accept dnat 10.244.0.6:8080 masquerade"
	for _, tc := range []struct {
		name     string
		src, dst string
		proto    string
		port     int
		fromNode bool
		want     string
	}{
		{"pod to ClusterIP: either endpoint, client IP kept", pod, "10.96.0.20", "tcp", 80, false, both},
		{"node to ClusterIP: not masqueraded", node, "10.96.0.20", "tcp", 80, true, both},
		{"outside to ClusterIP, routed to the node: dropped", outside, "10.96.0.20", "tcp", 80, false, "drop"},
		{"pod to ClusterIP, unknown port: refused", pod, "10.96.0.20", "tcp", 81, false, "reject"},
		{"pod to ClusterIP, other protocol: refused", pod, "10.96.0.20", "udp", 80, false, "reject"},
		{"pod to a service without endpoints: refused", pod, "10.96.0.30", "tcp", 80, false, "reject"},
		{"node to a service without endpoints: refused", node, "10.96.0.30", "tcp", 80, true, "reject"},
		{"pod to an unallocated service address: dropped", pod, "10.96.0.99", "tcp", 80, false, "drop"},
		{"pod to itself through its service: hairpin masquerade", "10.244.0.5", "10.96.0.20", "tcp", 80, false,
			"accept dnat 10.244.0.5:8080 masquerade | accept dnat 10.244.0.6:8080"},
		{"UDP ClusterIP", pod, "10.96.0.10", "udp", 53, false, "accept dnat 10.244.0.7:53"},
		{"outside to NodePort: masqueraded", outside, node, "tcp", 32000, false, bothMasq},
		{"pod to NodePort: masqueraded", pod, node, "tcp", 32000, false, bothMasq},
		{"outside to a port that is no NodePort: left alone", outside, node, "tcp", 32009, false, "accept"},
		{"outside to NodePort on an address not listed: left alone", outside, "10.244.0.1", "tcp", 32000, false, "accept"},
		{"LoadBalancer IP from an allowed source", "203.0.113.9", "192.168.1.200", "tcp", 80, false, bothMasq},
		{"LoadBalancer IP from another source: dropped", outside, "192.168.1.200", "tcp", 80, false, "drop"},
		{"LoadBalancer's NodePort: the source ranges are for the LoadBalancer IP only", outside, node, "tcp", 32001, false, bothMasq},
		{"Local policy from outside: local endpoint, client IP kept", outside, node, "tcp", 32002, false, "accept dnat 10.244.0.5:8080"},
		{"Local policy from a pod: every endpoint", pod, node, "tcp", 32002, false, both},
		{"Local policy from the node: every endpoint, masqueraded", node, node, "tcp", 32002, true, bothMasq},
		{"pod to a pod IP: untouched", pod, "10.244.0.5", "tcp", 8080, false, "accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(walk(t, fake, env, walkPacket{
				src: netip.MustParseAddr(tc.src), dst: netip.MustParseAddr(tc.dst),
				proto: tc.proto, dport: tc.port, fromNode: tc.fromNode,
			}), " | ")
			if got != tc.want {
				t.Errorf("%s -> %s:%d/%s\n got  %s\n want %s", tc.src, tc.dst, tc.port, tc.proto, got, tc.want)
			}
		})
	}
}
