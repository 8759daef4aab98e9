package nft

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"
)

const baseHead = `add table ip netplug { comment "netplug CNI plugin" ; }
add chain ip netplug hairpin-masquerade
add chain ip netplug hostports
`

const baseChains = `add chain ip netplug output { type nat hook output priority -100 ; }
add chain ip netplug pod-masquerade
add chain ip netplug postrouting { type nat hook postrouting priority 100 ; }
add chain ip netplug prerouting { type nat hook prerouting priority -100 ; }
add rule ip netplug hairpin-masquerade meta mark & 0x2000 == 0 return
add rule ip netplug hairpin-masquerade meta mark set meta mark xor 0x2000
add rule ip netplug hairpin-masquerade masquerade
`

const baseTail = `add rule ip netplug output fib daddr type local jump hostports
add rule ip netplug pod-masquerade ip saddr 10.244.0.0/24 ip daddr != 10.244.0.0/24 masquerade comment "netplug base v1, pod range 10.244.0.0/24"
add rule ip netplug postrouting jump hairpin-masquerade
add rule ip netplug postrouting jump pod-masquerade
add rule ip netplug prerouting fib daddr type local jump hostports
`

const baseDump = baseHead + baseChains + baseTail

var (
	podCIDR = netip.MustParsePrefix("10.244.0.0/24")
	ipA     = netip.MustParseAddr("10.244.0.5")
	ipB     = netip.MustParseAddr("10.244.0.6")
	web     = []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
)

func newFake(t *testing.T) (*Rules, *knftables.Fake) {
	t.Helper()
	f := knftables.NewFake(knftables.IPv4Family, DefaultTable)
	return New(Config{}, f), f
}

func mustBase(t *testing.T, r *Rules) {
	t.Helper()
	if err := r.EnsureBase(context.Background(), podCIDR); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureBase(t *testing.T) {
	r, f := newFake(t)
	for i := range 2 { // idempotent
		mustBase(t, r)
		if got := f.Dump(); got != baseDump {
			t.Fatalf("run %d: dump:\n%s\nwant:\n%s", i, got, baseDump)
		}
	}
	// A changed CIDR replaces the masquerade rule rather than adding a second one.
	if err := r.EnsureBase(context.Background(), netip.MustParsePrefix("10.244.1.7/24")); err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(baseDump, "10.244.0.0/24", "10.244.1.0/24")
	if got := f.Dump(); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
}

func TestEnsureBaseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		cidr netip.Prefix
		want string
	}{
		{"ipv6 cidr in ip table", Config{}, netip.MustParsePrefix("fd00::/64"), `nft: pod CIDR "fd00::/64" is not a valid ip prefix`},
		{"invalid cidr", Config{}, netip.Prefix{}, `nft: pod CIDR "invalid Prefix" is not a valid ip prefix`},
		{"inet family", Config{Family: knftables.InetFamily}, podCIDR, `nft: family "inet" not supported (want ip or ip6)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.cfg, knftables.NewFake(knftables.IPv4Family, DefaultTable))
			err := r.EnsureBase(context.Background(), tc.cidr)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

func TestAddPortMappings(t *testing.T) {
	for _, tc := range []struct {
		name string
		pms  []PortMapping
		want string // rules of abc's chain
	}{
		{
			name: "any local address",
			pms:  web,
			want: `add rule ip netplug hp-ba7816bf8f01cfea tcp dport 8080 ip saddr { 10.244.0.5, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-ba7816bf8f01cfea tcp dport 8080 dnat to 10.244.0.5:80
`,
		},
		{
			name: "host IP, udp, default protocol, wrong-family host IP skipped, unspecified host IP",
			pms: []PortMapping{
				{HostPort: 53, ContainerPort: 5353, Protocol: "UDP", HostIP: netip.MustParseAddr("192.168.1.1")},
				{HostPort: 9000, ContainerPort: 9000},
				{HostPort: 9001, ContainerPort: 9001, Protocol: "tcp", HostIP: netip.MustParseAddr("fd00::1")},
				{HostPort: 9002, ContainerPort: 9003, Protocol: "sctp", HostIP: netip.MustParseAddr("0.0.0.0")},
			},
			want: `add rule ip netplug hp-ba7816bf8f01cfea ip daddr 192.168.1.1 udp dport 53 ip saddr { 10.244.0.5, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-ba7816bf8f01cfea ip daddr 192.168.1.1 udp dport 53 dnat to 10.244.0.5:5353
add rule ip netplug hp-ba7816bf8f01cfea tcp dport 9000 ip saddr { 10.244.0.5, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-ba7816bf8f01cfea tcp dport 9000 dnat to 10.244.0.5:9000
add rule ip netplug hp-ba7816bf8f01cfea sctp dport 9002 ip saddr { 10.244.0.5, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-ba7816bf8f01cfea sctp dport 9002 dnat to 10.244.0.5:9003
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, f := newFake(t)
			mustBase(t, r)
			// Twice: a repeated ADD replaces the chain's rules and keeps a single jump.
			for range 2 {
				if err := r.AddPortMappings(context.Background(), "abc", ipA, tc.pms); err != nil {
					t.Fatal(err)
				}
			}
			want := baseHead + `add chain ip netplug hp-ba7816bf8f01cfea { comment "abc" ; }
` + baseChains + `add rule ip netplug hostports jump hp-ba7816bf8f01cfea comment "abc"
` + tc.want + baseTail
			if got := f.Dump(); got != want {
				t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestAddPortMappingsWithoutBase(t *testing.T) {
	// Port mappings work before EnsureBase: they create the infrastructure but no pod masquerade.
	r, f := newFake(t)
	if err := r.AddPortMappings(context.Background(), "abc", ipA, web); err != nil {
		t.Fatal(err)
	}
	want := baseHead + `add chain ip netplug hp-ba7816bf8f01cfea { comment "abc" ; }
` + baseChains + `add rule ip netplug hostports jump hp-ba7816bf8f01cfea comment "abc"
add rule ip netplug hp-ba7816bf8f01cfea tcp dport 8080 ip saddr { 10.244.0.5, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-ba7816bf8f01cfea tcp dport 8080 dnat to 10.244.0.5:80
add rule ip netplug output fib daddr type local jump hostports
add rule ip netplug postrouting jump hairpin-masquerade
add rule ip netplug postrouting jump pod-masquerade
add rule ip netplug prerouting fib daddr type local jump hostports
`
	if got := f.Dump(); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
}

func TestAddPortMappingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		ip   netip.Addr
		pms  []PortMapping
		want string
	}{
		{"empty id", "", ipA, web, `nft: container ID "": must be 1 to 128 characters`},
		{"bad id", `a"b`, ipA, web, `nft: container ID "a\"b": invalid character '"'`},
		{"long id", strings.Repeat("a", 129), ipA, web, `nft: container ID "` + strings.Repeat("a", 129) + `": must be 1 to 128 characters`},
		{"ipv6 pod", "abc", netip.MustParseAddr("fd00::5"), web, `nft: pod IP "fd00::5" is not a valid ip address`},
		{"bad protocol", "abc", ipA, []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "icmp"}}, `nft: port mapping 1: protocol "icmp" not supported`},
		{"zero port", "abc", ipA, []PortMapping{{HostPort: 0, ContainerPort: 1}}, `nft: port mapping 0->1: ports must be non-zero`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, f := newFake(t)
			err := r.AddPortMappings(context.Background(), tc.id, tc.ip, tc.pms)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if got := f.Dump(); got != "" {
				t.Fatalf("failed call changed the table:\n%s", got)
			}
		})
	}
}

func TestRemovePortMappings(t *testing.T) {
	ctx := context.Background()
	r, f := newFake(t)
	mustBase(t, r)
	if err := r.AddPortMappings(ctx, "abc", ipA, web); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPortMappings(ctx, "def", ipB, []PortMapping{{HostPort: 8081, ContainerPort: 80, Protocol: "udp"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // missing is success
		if err := r.RemovePortMappings(ctx, "abc"); err != nil {
			t.Fatal(err)
		}
	}
	want := baseHead + `add chain ip netplug hp-cb8379ac2098aa16 { comment "def" ; }
` + baseChains + `add rule ip netplug hostports jump hp-cb8379ac2098aa16 comment "def"
add rule ip netplug hp-cb8379ac2098aa16 udp dport 8081 ip saddr { 10.244.0.6, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-cb8379ac2098aa16 udp dport 8081 dnat to 10.244.0.6:80
` + baseTail
	if got := f.Dump(); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
	// Adding with no mappings is a removal.
	if err := r.AddPortMappings(ctx, "def", ipB, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.Dump(); got != baseDump {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, baseDump)
	}
}

func TestRemoveWithoutTable(t *testing.T) {
	r, f := newFake(t)
	if err := r.RemovePortMappings(context.Background(), "abc"); err != nil {
		t.Fatal(err)
	}
	if err := r.GC(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if ids, err := r.Owned(context.Background()); err != nil || len(ids) != 0 {
		t.Fatalf("Owned = %v, %v; want none", ids, err)
	}
	if got := f.Dump(); got != "" {
		t.Fatalf("remove created a table:\n%s", got)
	}
}

func TestGC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		valid map[string]bool
		owned []string
		want  string
	}{
		{
			name:  "keep one",
			valid: map[string]bool{"def": true, "unknown": true},
			owned: []string{"def"},
			want: baseHead + `add chain ip netplug hp-cb8379ac2098aa16 { comment "def" ; }
` + baseChains + `add rule ip netplug hostports jump hp-cb8379ac2098aa16 comment "def"
add rule ip netplug hp-cb8379ac2098aa16 tcp dport 8080 ip saddr { 10.244.0.6, 127.0.0.0/8 } meta mark set meta mark | 0x2000
add rule ip netplug hp-cb8379ac2098aa16 tcp dport 8080 dnat to 10.244.0.6:80
` + baseTail,
		},
		{name: "keep none", valid: nil, owned: []string{}, want: baseDump},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r, f := newFake(t)
			mustBase(t, r)
			for id, ip := range map[string]netip.Addr{"abc": ipA, "def": ipB, "ghi": netip.MustParseAddr("10.244.0.7")} {
				if err := r.AddPortMappings(ctx, id, ip, web); err != nil {
					t.Fatal(err)
				}
			}
			// An orphan container chain (no jump reaches it) and an uncommented jump
			// are not anybody's: GC removes them too.
			tx := f.NewTransaction()
			tx.Add(&knftables.Chain{Name: "hp-0000000000000000"})
			tx.Add(&knftables.Chain{Name: "hp-1111111111111111"})
			tx.Add(&knftables.Rule{Chain: "hostports", Rule: "jump hp-1111111111111111"})
			if err := f.Run(ctx, tx); err != nil {
				t.Fatal(err)
			}
			if ids, err := r.Owned(ctx); err != nil || !slices.Equal(ids, []string{"", "abc", "def", "ghi"}) {
				t.Fatalf("Owned before GC = %q, %v", ids, err)
			}
			if err := r.GC(ctx, tc.valid); err != nil {
				t.Fatal(err)
			}
			if got := f.Dump(); got != tc.want {
				t.Fatalf("dump:\n%s\nwant:\n%s", got, tc.want)
			}
			if ids, err := r.Owned(ctx); err != nil || !slices.Equal(ids, tc.owned) {
				t.Fatalf("Owned after GC = %q, %v; want %q", ids, err, tc.owned)
			}
		})
	}
}

func TestIPv6(t *testing.T) {
	ctx := context.Background()
	f := knftables.NewFake(knftables.IPv6Family, "netplug6")
	r := New(Config{Table: "netplug6", Family: knftables.IPv6Family}, f)
	if err := r.EnsureBase(ctx, netip.MustParsePrefix("fd00:10:244::/64")); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPortMappings(ctx, "abc", netip.MustParseAddr("fd00:10:244::5"), []PortMapping{
		{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: netip.MustParseAddr("fd00::1")},
		{HostPort: 8081, ContainerPort: 81, Protocol: "tcp", HostIP: netip.MustParseAddr("192.168.1.1")},
	}); err != nil {
		t.Fatal(err)
	}
	want := `add table ip6 netplug6 { comment "netplug CNI plugin" ; }
add chain ip6 netplug6 hairpin-masquerade
add chain ip6 netplug6 hostports
add chain ip6 netplug6 hp-ba7816bf8f01cfea { comment "abc" ; }
add chain ip6 netplug6 output { type nat hook output priority -100 ; }
add chain ip6 netplug6 pod-masquerade
add chain ip6 netplug6 postrouting { type nat hook postrouting priority 100 ; }
add chain ip6 netplug6 prerouting { type nat hook prerouting priority -100 ; }
add rule ip6 netplug6 hairpin-masquerade meta mark & 0x2000 == 0 return
add rule ip6 netplug6 hairpin-masquerade meta mark set meta mark xor 0x2000
add rule ip6 netplug6 hairpin-masquerade masquerade
add rule ip6 netplug6 hostports jump hp-ba7816bf8f01cfea comment "abc"
add rule ip6 netplug6 hp-ba7816bf8f01cfea ip6 daddr fd00::1 tcp dport 8080 ip6 saddr { fd00:10:244::5, ::1 } meta mark set meta mark | 0x2000
add rule ip6 netplug6 hp-ba7816bf8f01cfea ip6 daddr fd00::1 tcp dport 8080 dnat to [fd00:10:244::5]:80
add rule ip6 netplug6 output fib daddr type local jump hostports
add rule ip6 netplug6 pod-masquerade ip6 saddr fd00:10:244::/64 ip6 daddr != fd00:10:244::/64 masquerade comment "netplug base v1, pod range fd00:10:244::/64"
add rule ip6 netplug6 postrouting jump hairpin-masquerade
add rule ip6 netplug6 postrouting jump pod-masquerade
add rule ip6 netplug6 prerouting fib daddr type local jump hostports
`
	if got := f.Dump(); got != want {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, want)
	}
}

func TestContainerChain(t *testing.T) {
	if got := ContainerChain("abc"); got != "hp-ba7816bf8f01cfea" {
		t.Fatalf("ContainerChain(abc) = %s", got)
	}
}

// countingFake counts the transactions that reach the Fake.
type countingFake struct {
	*knftables.Fake
	runs int
}

func (c *countingFake) Run(ctx context.Context, tx *knftables.Transaction) error {
	c.runs++
	return c.Fake.Run(ctx, tx)
}

func TestEnsureBaseSteadyStateAndHealing(t *testing.T) {
	ctx := context.Background()
	f := &countingFake{Fake: knftables.NewFake(knftables.IPv4Family, DefaultTable)}
	r := New(Config{}, f)
	mustBase(t, r)
	mustBase(t, r)
	if f.runs != 1 {
		t.Fatalf("EnsureBase on a table in shape ran %d transactions in all, want 1", f.runs)
	}
	for _, damage := range []func(tx *knftables.Transaction){
		func(tx *knftables.Transaction) { tx.Flush(&knftables.Chain{Name: chainPostrouting}) },
		func(tx *knftables.Transaction) { tx.Flush(&knftables.Chain{Name: chainPodMasq}) },
		func(tx *knftables.Transaction) {
			tx.Add(&knftables.Rule{Chain: chainPrerouting, Rule: "accept"})
		},
		func(tx *knftables.Transaction) { tx.Delete(&knftables.Table{}) },
	} {
		tx := f.NewTransaction()
		damage(tx)
		if err := f.Fake.Run(ctx, tx); err != nil {
			t.Fatal(err)
		}
		mustBase(t, r)
		if got := f.Dump(); got != baseDump {
			t.Fatalf("after healing:\n%s\nwant:\n%s", got, baseDump)
		}
	}
}
