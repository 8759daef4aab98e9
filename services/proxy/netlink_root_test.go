package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	gnft "github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/internal/roottest"
)

// textOnlyNFT hides the netlink path: full and partial syncs go through nft -f.
type textOnlyNFT struct{ *nsNFT }

func (t textOnlyNFT) RunPartial(ctx context.Context, tx *knftables.Transaction, _ []op) (bool, error) {
	return true, t.Run(ctx, tx)
}

func (t textOnlyNFT) RunFull(ctx context.Context, tx *knftables.Transaction, _ []op) (bool, error) {
	return true, t.Run(ctx, tx)
}

// twinProxy is a proxy on its own table of namespace n, its partial syncs sent over netlink
// or, with viaNFT, through nft.
func twinProxy(t *testing.T, n ns.NetNS, family knftables.Family, table string, viaNFT bool, mod func(*Config)) *Proxy {
	t.Helper()
	var inner knftables.Interface
	err := n.Do(func(ns.NetNS) (err error) { inner, err = newRealNFT(family, table); return err })
	roottest.Need(t, err == nil, "nft")
	var nft knftables.Interface = &nsNFT{inner: inner, netns: n}
	if viaNFT {
		nft = textOnlyNFT{nft.(*nsNFT)}
	}
	p, _, _ := newTestProxy(t, func(c *Config) {
		c.Family, c.Table, c.NFT = family, table, nft
		if mod != nil {
			mod(c)
		}
	})
	t.Cleanup(func() { _ = p.Cleanup(context.Background()) })
	return p
}

// twinCase is one step applied to both proxies.
type twinCase struct {
	name   string
	svc    *corev1.Service
	slices []*discoveryv1.EndpointSlice
}

// TestRootNetlinkMatchesNFT applies every model case as a partial sync to two tables of one
// namespace, one through nft -f and one over netlink, then changes its endpoints and deletes
// it, and after each step compares what the kernel holds: each chain's rules expression by
// expression and as nft lists them, each set's properties and elements.
func TestRootNetlinkMatchesNFT(t *testing.T) {
	roottest.NeedRoot(t)
	n := roottest.NewNS(t)
	for _, tc := range modelCases() {
		if tc.name == "external-name" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			moved := slice(tc.svc.Name, tc.svc.Name+"-1", tc.slices[0].Ports, ep("10.244.0.9"), ep("10.244.0.5"), ep("10.244.0.8,other"))
			runTwins(t, n, knftables.IPv4Family, nil, []twinCase{{tc.name, tc.svc, tc.slices}, {"moved", tc.svc, []*discoveryv1.EndpointSlice{moved}}})
		})
	}
}

// TestRootNetlinkMatchesNFTIPv6 does the same for the ip6 family's spellings.
func TestRootNetlinkMatchesNFTIPv6(t *testing.T) {
	roottest.NeedRoot(t)
	n := roottest.NewNS(t)
	for _, tc := range v6Cases() {
		t.Run(tc.name, func(t *testing.T) {
			runTwins(t, n, knftables.IPv6Family, v6Config, []twinCase{tc})
		})
	}
}

func v6Config(c *Config) {
	c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00:10:244::/56")}
	c.ServiceCIDRs = []netip.Prefix{netip.MustParsePrefix("fd00:10:96::/108")}
	c.NodePortAddresses = []netip.Addr{netip.MustParseAddr("fd00::10")}
}

// v6Cases are services of the ip6 family for the twin tests, in a namespace configured by
// v6Config.
func v6Cases() []twinCase {
	ports := []discoveryv1.EndpointPort{sport("http", corev1.ProtocolTCP, 8080)}
	v6slice := func(eps ...string) []*discoveryv1.EndpointSlice {
		s := slice("web", "web-1", ports)
		s.AddressType = discoveryv1.AddressTypeIPv6
		for _, e := range eps {
			s.Endpoints = append(s.Endpoints, ep(e))
		}
		return []*discoveryv1.EndpointSlice{s}
	}
	np := []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}}
	return []twinCase{
		{"clusterip", service("web", "fd00:10:96::20", []corev1.ServicePort{tcp("http", 80, 8080)}), v6slice("fd00:10:244::5", "fd00:10:244::6,other")},
		{"affinity", service("web", "fd00:10:96::20", []corev1.ServicePort{tcp("http", 80, 8080)}, func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
		}), v6slice("fd00:10:244::5", "fd00:10:244::6")},
		{"local-nodeport", service("web", "fd00:10:96::20", np, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}), v6slice("fd00:10:244::5", "fd00:10:244::6,other")},
		{"loadbalancer-ranges", service("web", "fd00:10:96::20", np, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerSourceRanges = []string{"2001:db8::/48", "2001:db8:1:80::/57", "::/0"}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "fd00:200::1"}}
		}), v6slice("fd00:10:244::5")},
	}
}

// TestRootNetlinkPrefixes covers the prefix lengths nft spells differently (whole bytes, a
// mask, none at all) with IPv4 source ranges.
func TestRootNetlinkPrefixes(t *testing.T) {
	roottest.NeedRoot(t)
	n := roottest.NewNS(t)
	svc := service("web", "10.96.0.20", []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}}, func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8", "10.128.0.0/9", "172.16.5.0/24", "192.0.2.7/32", "0.0.0.0/0", "198.51.100.64/27"}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.200"}}
	})
	runTwins(t, n, knftables.IPv4Family, nil, []twinCase{{"ranges", svc, []*discoveryv1.EndpointSlice{slice("web", "web-1", web, ep("10.244.0.5"))}}})
}

// runTwins applies the steps to two fresh proxies, then deletes the service, comparing the
// tables after each step.
func runTwins(t *testing.T, n ns.NetNS, family knftables.Family, mod func(*Config), steps []twinCase) {
	t.Helper()
	viaNFT := twinProxy(t, n, family, "podnet-nft", true, mod)
	viaNL := twinProxy(t, n, family, "podnet-nl", false, mod)
	for _, p := range []*Proxy{viaNFT, viaNL} {
		mustSync(t, p) // the skeleton, by a full sync
	}
	for _, st := range steps {
		for _, p := range []*Proxy{viaNFT, viaNL} {
			p.SetService(st.svc)
			for _, s := range st.slices {
				p.SetSlice(s)
			}
			mustSync(t, p)
		}
		compareTwins(t, n, family, st.name)
	}
	for _, p := range []*Proxy{viaNFT, viaNL} {
		p.DeleteService(steps[0].svc.Namespace, steps[0].svc.Name)
		mustSync(t, p)
	}
	compareTwins(t, n, family, "deleted")
	if s := viaNL.Stats(); s.PartialViaNFT != 0 || s.Syncs != uint64(len(steps)+2) {
		t.Errorf("netlink proxy: %d of %d syncs through nft, want %d syncs, none through nft", s.PartialViaNFT, s.Syncs, len(steps)+2)
	}
}

func compareTwins(t *testing.T, n ns.NetNS, family knftables.Family, step string) {
	t.Helper()
	fd, err := os.Open(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	c, err := gnft.New(gnft.WithNetNSFd(int(fd.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	fam := gnft.TableFamilyIPv4
	if family == knftables.IPv6Family {
		fam = gnft.TableFamilyIPv6
	}
	a, b := &gnft.Table{Name: "podnet-nft", Family: fam}, &gnft.Table{Name: "podnet-nl", Family: fam}
	if ca, cb := chainNames(t, c, a), chainNames(t, c, b); !slices.Equal(ca, cb) {
		t.Fatalf("%s: chains through nft %v, over netlink %v", step, ca, cb)
	}
	for _, name := range chainNames(t, c, a) {
		ra, rb := ruleExprsOf(t, c, a, name), ruleExprsOf(t, c, b, name)
		if !reflect.DeepEqual(ra, rb) {
			t.Errorf("%s: chain %s\nthrough nft:  %s\nover netlink: %s", step, name, ra, rb)
		}
		if ta, tb := listed(t, n, family, a.Name, "chain", name), listed(t, n, family, b.Name, "chain", name); ta != tb {
			t.Errorf("%s: nft lists chain %s through nft as\n%s\nover netlink as\n%s", step, name, ta, tb)
		}
	}
	compareSets(t, n, c, family, a, b, step)
}

func chainNames(t *testing.T, c *gnft.Conn, tbl *gnft.Table) []string {
	t.Helper()
	chains, err := c.ListChainsOfTableFamily(tbl.Family)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range chains {
		if ch.Table.Name == tbl.Name {
			out = append(out, ch.Name)
		}
	}
	slices.Sort(out)
	return out
}

// ruleExprsOf is a chain's rules as expressions, printed one rule a line.
func ruleExprsOf(t *testing.T, c *gnft.Conn, tbl *gnft.Table, chain string) string {
	t.Helper()
	rules, err := c.GetRules(tbl, &gnft.Chain{Name: chain, Table: tbl})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range rules {
		for _, e := range r.Exprs {
			fmt.Fprintf(&b, "%T%+v ", e, e)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func compareSets(t *testing.T, n ns.NetNS, c *gnft.Conn, family knftables.Family, a, b *gnft.Table, step string) {
	t.Helper()
	sa, err := c.GetSets(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := c.GetSets(b)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*gnft.Set{}
	for _, s := range sb {
		byName[s.Name] = s
	}
	if len(sa) != len(sb) {
		t.Errorf("%s: %d sets through nft, %d over netlink", step, len(sa), len(sb))
	}
	for _, s := range sa {
		o := byName[s.Name]
		if o == nil {
			t.Errorf("%s: set %s missing over netlink", step, s.Name)
			continue
		}
		if x, y := setProps(s), setProps(o); x != y {
			t.Errorf("%s: set %s through nft %s, over netlink %s", step, s.Name, x, y)
		}
		if x, y := elements(t, c, s), elements(t, c, o); x != y {
			t.Errorf("%s: set %s holds through nft\n%s\nover netlink\n%s", step, s.Name, x, y)
		}
		kind := "set"
		if s.IsMap {
			kind = "map"
		}
		if x, y := listed(t, n, family, a.Name, kind, s.Name), listed(t, n, family, b.Name, kind, s.Name); !strings.Contains(x, "elements") && x != y {
			t.Errorf("%s: nft lists set %s through nft as\n%s\nover netlink as\n%s", step, s.Name, x, y)
		}
	}
}

func setProps(s *gnft.Set) string {
	return fmt.Sprintf("map=%v timeout=%v/%v dynamic=%v interval=%v concat=%v key=%s/%v data=%s",
		s.IsMap, s.HasTimeout, s.Timeout, s.Dynamic, s.Interval, s.Concatenation, s.KeyType.Name, s.KeyByteOrder, s.DataType.Name)
}

func elements(t *testing.T, c *gnft.Conn, s *gnft.Set) string {
	t.Helper()
	els, err := c.GetSetElements(s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range els {
		v := ""
		if e.VerdictData != nil {
			v = fmt.Sprintf(" : %d %s", e.VerdictData.Kind, e.VerdictData.Chain)
		}
		out = append(out, fmt.Sprintf("%x%s%x", e.Key, v, e.Val))
	}
	slices.SortFunc(out, func(x, y string) int { return bytes.Compare([]byte(x), []byte(y)) })
	return strings.Join(out, "\n")
}

// listed is nft's listing of one object, its table's name taken out.
func listed(t *testing.T, n ns.NetNS, family knftables.Family, table, kind, name string) string {
	t.Helper()
	out := nftIn(t, n, "list", kind, string(family), table, name)
	return strings.ReplaceAll(out, table, "TABLE")
}

// TestRootNetlinkLargeBatch: a partial sync of many services at once (a burst of creations
// coalesced into one sync) still goes over netlink in one batch, and one beyond
// maxNetlinkOps through nft; neither fails.
func TestRootNetlinkLargeBatch(t *testing.T) {
	p, n := rootProxy(t)
	mustSync(t, p)
	// 7 operations a service: its chain, two rules, four elements.
	perService := 7
	below := maxNetlinkOps / perService
	addServiceRange(p, 0, below)
	mustSync(t, p)
	if s := p.Stats(); s.PartialViaNFT != 0 || s.Failures != 0 {
		t.Fatalf("%d services at once: stats %+v, want them over netlink without a failure", below, s)
	}
	addServiceRange(p, below, 3*below)
	mustSync(t, p)
	if s := p.Stats(); s.PartialViaNFT != 1 || s.Failures != 0 {
		t.Fatalf("%d services at once: stats %+v, want them through nft without a failure", 2*below, s)
	}
	if got := strings.Count(nftIn(t, n, "list", "map", "ip", "podnet", "service-ips"), ": goto "); got != 3*below {
		t.Errorf("service-ips holds %d elements, want %d", got, 3*below)
	}
}

// TestRootNetlinkChurn: services added and removed in partial syncs of every size, over
// netlink, leave the table as nft listed it before.
func TestRootNetlinkChurn(t *testing.T) {
	p, n := rootProxy(t)
	mustSync(t, p)
	before := nftIn(t, n, "list", "table", "ip", "podnet")
	sizes := []int{1, 2, 5, 17, 40, 100, 3, 1}
	from := 0
	for _, k := range sizes {
		addServiceRange(p, from, from+k)
		mustSync(t, p)
		from += k
	}
	for i := 0; i < from; {
		k := min(sizes[i%len(sizes)], from-i)
		for j := i; j < i+k; j++ {
			name := fmt.Sprintf("svc%d", j)
			p.DeleteSlice("default", name+"-1")
			p.DeleteService("default", name)
		}
		mustSync(t, p)
		i += k
	}
	if s := p.Stats(); s.PartialViaNFT != 0 || s.Failures != 0 {
		t.Errorf("stats %+v, want every partial sync over netlink, none failed", s)
	}
	if after := nftIn(t, n, "list", "table", "ip", "podnet"); after != before {
		t.Errorf("table after the churn:\n%s\nbefore:\n%s", after, before)
	}
}
