package proxy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/internal/roottest"
)

// fullSyncConfigs are the configuration variants the skeleton's rules depend on, for each
// family; viaNFT says the full sync is expected to fall back to nft (two cluster CIDRs make
// an anonymous set, which the translator leaves to nft).
var fullSyncConfigs = []struct {
	name   string
	family knftables.Family
	mod    func(*Config)
	viaNFT bool
}{
	{"ipv4-default", knftables.IPv4Family, nil, false},
	{"ipv4-no-nodeport-addresses", knftables.IPv4Family, func(c *Config) { c.NodePortAddresses = nil }, false},
	{"ipv4-no-cidrs", knftables.IPv4Family, func(c *Config) {
		c.NodePortAddresses, c.ClusterCIDRs, c.ServiceCIDRs = nil, []netip.Prefix{}, []netip.Prefix{}
	}, false},
	{"ipv4-service-cidr-only", knftables.IPv4Family, func(c *Config) {
		c.ClusterCIDRs, c.ServiceCIDRs = []netip.Prefix{}, []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}
	}, false},
	{"ipv4-two-cluster-cidrs", knftables.IPv4Family, func(c *Config) {
		c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.245.0.0/16")}
	}, true},
	{"ipv6", knftables.IPv6Family, v6Config, false},
	{"ipv6-no-nodeport-addresses", knftables.IPv6Family, func(c *Config) { v6Config(c); c.NodePortAddresses = nil }, false},
	{"ipv6-no-cidrs", knftables.IPv6Family, func(c *Config) {
		v6Config(c)
		c.ClusterCIDRs, c.ServiceCIDRs = []netip.Prefix{}, []netip.Prefix{}
	}, false},
}

// TestRootFullSyncMatchesNFT loads every service shape by one full sync, through nft -f in one
// namespace and over netlink in another, and compares nft's listings of the two tables, for
// every configuration variant of both families.
func TestRootFullSyncMatchesNFT(t *testing.T) {
	roottest.NeedRoot(t)
	for _, tc := range fullSyncConfigs {
		t.Run(tc.name, func(t *testing.T) {
			a, b := roottest.NewNS(t), roottest.NewNS(t)
			viaNFT := twinProxy(t, a, tc.family, "podnet", true, tc.mod)
			viaNL := twinProxy(t, b, tc.family, "podnet", false, tc.mod)
			for _, p := range []*Proxy{viaNFT, viaNL} {
				if tc.family == knftables.IPv6Family {
					loadShapes(p, v6Cases(), func(i int) netip.Addr {
						return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x10, 0, 0x96, 15: byte(i + 1)})
					})
				} else {
					loadEveryShape(p)
				}
				mustSync(t, p)
			}
			if s := viaNL.Stats(); s.FullViaNFT != 0 != tc.viaNFT || s.Failures != 0 {
				t.Errorf("netlink proxy: stats %+v, want FullViaNFT %v", s, tc.viaNFT)
			}
			if x, y := listTable(t, a, tc.family), listTable(t, b, tc.family); x != y {
				t.Errorf("through nft:\n%s\nover netlink:\n%s", x, y)
			}
		})
	}
}

func listTable(t *testing.T, n ns.NetNS, family knftables.Family) string {
	t.Helper()
	return nftIn(t, n, "list", "table", string(family), "podnet")
}

// TestRootFullSyncRefusedLeavesTable: a full batch the kernel refuses, while it processes the
// messages or at commit, comes back as an error and changes nothing: the batch carries only one
// ack request (its last message), so the refusal must be read from the error the kernel sends
// for the failing message or for the batch.
func TestRootFullSyncRefusedLeavesTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []*knftables.Rule
	}{
		// ENOENT while the rule message is processed.
		{"jump to a missing chain", []*knftables.Rule{{Chain: "extra", Rule: "goto no-such-chain"}}},
		// ELOOP: found when the chains are validated from the base chain.
		{"a jump loop", []*knftables.Rule{
			{Chain: "nat-prerouting", Rule: "jump extra"},
			{Chain: "extra", Rule: "jump extra-2"},
			{Chain: "extra-2", Rule: "jump extra"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, n := rootProxy(t)
			loadEveryShape(p)
			mustSync(t, p)
			before := listTable(t, n, knftables.IPv4Family)
			nft := p.cfg.NFT.(*nsNFT)
			l := &opLog{}
			renderFull(l, p.sk, newCommitted().planChanges(nil))
			l.Add(&knftables.Chain{Name: "extra"})
			l.Add(&knftables.Chain{Name: "extra-2"})
			for _, r := range tc.rules {
				l.Add(r)
			}
			viaNFT, err := nft.RunFull(context.Background(), l.ops)
			t.Logf("refused: %v", err)
			if viaNFT || err == nil {
				t.Fatalf("RunFull: via nft %v, err %v; want a netlink error", viaNFT, err)
			}
			if after := listTable(t, n, knftables.IPv4Family); after != before {
				t.Errorf("the refused batch changed the table:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}
