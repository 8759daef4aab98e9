package proxy

import (
	"errors"
	"net/netip"
	"testing"

	gnft "github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// partialOps is what a partial sync that adds the case's service writes.
func partialOps(t *testing.T, p *Proxy) []op {
	t.Helper()
	p.mu.Lock()
	var changes []change
	for _, k := range sortedNames(p.dirty) {
		changes = append(changes, change{key: k, old: p.state.services[k], new: p.modelLocked(k)})
	}
	p.mu.Unlock()
	l := &opLog{}
	renderPartial(l, p.state, p.state.planChanges(changes))
	return l.ops
}

// TestNetlinkVocabulary: every model case's partial sync translates to netlink (the root tests
// check that the kernel then holds what nft would have written).
func TestNetlinkVocabulary(t *testing.T) {
	for _, tc := range modelCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestProxy(t, nil)
			mustSync(t, p)
			if tc.name != "external-name" {
				p.SetService(tc.svc)
			}
			for _, s := range tc.slices {
				p.SetSlice(s)
			}
			c, err := gnft.New()
			if err != nil {
				t.Fatal(err)
			}
			if err := newNLTranslator(newFam(knftables.IPv4Family), "podnet").queue(c, partialOps(t, p)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNetlinkFallback: what the translator does not know is errUnsupported, so that the
// transaction goes through nft: here a source match against two cluster CIDRs (an anonymous
// set) in an externalTrafficPolicy Local chain.
func TestNetlinkFallback(t *testing.T) {
	p, _, _ := newTestProxy(t, func(c *Config) {
		c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.245.0.0/16")}
	})
	mustSync(t, p)
	p.SetService(service("web", "10.96.0.20", []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}},
		func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}))
	p.SetSlice(slice("web", "web-1", web, ep("10.244.0.5")))
	c, err := gnft.New()
	if err != nil {
		t.Fatal(err)
	}
	err = newNLTranslator(newFam(knftables.IPv4Family), "podnet").queue(c, partialOps(t, p))
	if !errors.Is(err, errUnsupported) {
		t.Fatalf("got %v, want errUnsupported", err)
	}
	for _, rule := range []string{"ip saddr 10.0.0.1-10.0.0.9 goto x", "ip daddr { 10.0.0.0/8, 11.0.0.0/8 } drop", "reject with icmp host-unreachable", "counter", "goto", "drop accept", "meta l4proto icmp drop", "dnat to [fd00::1]:80"} {
		if _, err := ruleExprs(newFam(knftables.IPv4Family), rule); !errors.Is(err, errUnsupported) {
			t.Errorf("%q: got %v, want errUnsupported", rule, err)
		}
	}
}

// fullOps is what a full sync of p's services writes.
func fullOps(p *Proxy) []op {
	p.mu.Lock()
	var changes []change
	for _, k := range sortedNames(p.services) {
		changes = append(changes, change{key: k, new: p.modelLocked(k)})
	}
	p.mu.Unlock()
	l := &opLog{}
	renderFull(l, p.sk, newCommitted().planChanges(changes))
	return l.ops
}

// everyShapeProxy is a Proxy (on the Fake) of the family and configuration variant holding
// every service shape of the family.
func everyShapeProxy(t *testing.T, family knftables.Family, mod func(*Config)) *Proxy {
	t.Helper()
	p, _, _ := newTestProxy(t, func(c *Config) {
		c.Family = family
		if mod != nil {
			mod(c)
		}
	})
	if family == knftables.IPv6Family {
		loadShapes(p, v6Cases(), func(i int) netip.Addr { return netip.AddrFrom16([16]byte{0xfd, 15: byte(i + 1)}) })
	} else {
		loadEveryShape(p)
	}
	return p
}

// TestNetlinkFullVocabulary: a full sync of every service shape translates to netlink for every
// configuration variant but those expected to go through nft (the root tests check that the
// kernel then holds what nft would have written).
func TestNetlinkFullVocabulary(t *testing.T) {
	for _, tc := range fullSyncConfigs {
		t.Run(tc.name, func(t *testing.T) {
			p := everyShapeProxy(t, tc.family, tc.mod)
			c, err := gnft.New()
			if err != nil {
				t.Fatal(err)
			}
			err = newNLTranslator(newFam(tc.family), "podnet").queue(c, fullOps(p))
			if tc.viaNFT && !errors.Is(err, errUnsupported) || !tc.viaNFT && err != nil {
				t.Fatalf("got %v, want errUnsupported %v", err, tc.viaNFT)
			}
		})
	}
}

// TestNetlinkSkeletonRules: the expressions of the skeleton's statements, as nft 1.0.6 makes
// them (nft --debug=netlink), by type and register.
func TestNetlinkSkeletonRules(t *testing.T) {
	for _, tc := range []struct {
		family knftables.Family
		rule   string
		want   string
	}{
		{"ip", "ct state new jump endpoints-check", "ct(state→1) bitwise(&08000000^00000000) cmp(!=00000000) verdict(jump endpoints-check)"},
		{"ip", "ip daddr . meta l4proto . th dport vmap @service-ips",
			"payload(nh+16/4→1) meta(l4proto→9) payload(th+2/2→10) lookup(service-ips 1→verdict)"},
		{"ip6", "ip6 daddr . meta l4proto . th dport vmap @service-ips",
			"payload(nh+24/16→1) meta(l4proto→2) payload(th+2/2→13) lookup(service-ips 1→verdict)"},
		{"ip", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
			"payload(nh+16/4→1) lookup(nodeport-ips 1) meta(l4proto→1) payload(th+2/2→9) lookup(service-nodeports 1→verdict)"},
		{"ip6", "fib daddr type local ip6 daddr != ::1 drop",
			"fib(daddr type→1) cmp(==02000000) payload(nh+24/16→1) cmp(!=00000000000000000000000000000001) verdict(drop)"},
		{"ip", "ip daddr 10.96.0.0/12 ip saddr != 10.244.0.0/16 fib saddr type != local drop",
			"payload(nh+16/4→1) bitwise(&fff00000^00000000) cmp(==0a600000) payload(nh+12/2→1) cmp(!=0af4) fib(saddr type→1) cmp(!=02000000) verdict(drop)"},
		{"ip", "ct status dnat ip saddr . ip daddr @hairpin masquerade",
			"ct(status→1) bitwise(&20000000^00000000) cmp(!=00000000) payload(nh+12/4→1) payload(nh+16/4→9) lookup(hairpin 1) masq()"},
		{"ip6", "ct status dnat ip6 saddr . ip6 daddr @hairpin masquerade",
			"ct(status→1) bitwise(&20000000^00000000) cmp(!=00000000) payload(nh+8/16→1) payload(nh+24/16→2) lookup(hairpin 1) masq()"},
		{"ip", "meta mark & 0x4000 == 0 return", "meta(mark→1) bitwise(&00400000^00000000) cmp(==00000000) verdict(return)"},
		{"ip", "meta mark set meta mark ^ 0x4000", "meta(mark→1) bitwise(&ffffffff^00400000) meta(mark←1)"},
		{"ip", "masquerade fully-random", "masq(fully-random)"},
		{"ip", "meta l4proto tcp reject with tcp reset", "meta(l4proto→1) cmp(==06) reject(1/0)"},
		{"ip", "reject", "reject(0/3)"},
		{"ip6", "reject", "reject(0/4)"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			exprs, err := ruleExprs(newFam(tc.family), tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			if got := describeExprs(exprs); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
