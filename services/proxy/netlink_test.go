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
	l := &opLog{tx: p.nft.NewTransaction()}
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
	for _, rule := range []string{"ip saddr 10.0.0.1 goto x", "counter", "goto", "drop accept", "meta l4proto icmp drop", "dnat to [fd00::1]:80"} {
		if _, err := ruleExprs(newFam(knftables.IPv4Family), rule); !errors.Is(err, errUnsupported) {
			t.Errorf("%q: got %v, want errUnsupported", rule, err)
		}
	}
}
