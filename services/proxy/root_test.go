package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/internal/roottest"
)

// nsNFT runs every nft command inside a test namespace: the proxy's goroutines are not on
// the namespace's thread, and must never reach the host's nftables.
type nsNFT struct {
	inner knftables.Interface
	netns ns.NetNS
}

func newNSNFT(t *testing.T, n ns.NetNS) *nsNFT {
	t.Helper()
	var inner knftables.Interface
	err := n.Do(func(ns.NetNS) (err error) { inner, err = newRealNFT(knftables.IPv4Family, "podnet"); return err })
	roottest.Need(t, err == nil, "nft")
	return &nsNFT{inner: inner, netns: n}
}

func (n *nsNFT) do(f func() error) error { return n.netns.Do(func(ns.NetNS) error { return f() }) }

func (n *nsNFT) NewTransaction() *knftables.Transaction { return n.inner.NewTransaction() }
func (n *nsNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	return n.do(func() error { return n.inner.Run(ctx, tx) })
}
func (n *nsNFT) RunPartial(ctx context.Context, ops []op) (viaNFT bool, err error) {
	err = n.do(func() error { viaNFT, err = n.inner.(partialRunner).RunPartial(ctx, ops); return err })
	return viaNFT, err
}
func (n *nsNFT) RunFull(ctx context.Context, ops []op) (viaNFT bool, err error) {
	err = n.do(func() error { viaNFT, err = n.inner.(fullRunner).RunFull(ctx, ops); return err })
	return viaNFT, err
}
func (n *nsNFT) Check(ctx context.Context, tx *knftables.Transaction) error {
	return n.do(func() error { return n.inner.Check(ctx, tx) })
}
func (n *nsNFT) ListAll(ctx context.Context) (out map[string][]string, err error) {
	err = n.do(func() error { out, err = n.inner.ListAll(ctx); return err })
	return out, err
}
func (n *nsNFT) List(ctx context.Context, t string) (out []string, err error) {
	err = n.do(func() error { out, err = n.inner.List(ctx, t); return err })
	return out, err
}
func (n *nsNFT) CountRules(ctx context.Context, c string) (out int, err error) {
	err = n.do(func() error { out, err = n.inner.(ruleCounter).CountRules(ctx, c); return err })
	return out, err
}
func (n *nsNFT) ListRules(ctx context.Context, c string) (out []*knftables.Rule, err error) {
	err = n.do(func() error { out, err = n.inner.ListRules(ctx, c); return err })
	return out, err
}
func (n *nsNFT) ListElements(ctx context.Context, t, name string) (out []*knftables.Element, err error) {
	err = n.do(func() error { out, err = n.inner.ListElements(ctx, t, name); return err })
	return out, err
}
func (n *nsNFT) ListCounters(ctx context.Context) (out []*knftables.Counter, err error) {
	err = n.do(func() error { out, err = n.inner.ListCounters(ctx); return err })
	return out, err
}

func nftIn(t *testing.T, n ns.NetNS, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + n.Path(), "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v: %v: %s", args, err, out)
	}
	return string(out)
}

func rootProxy(t *testing.T) (*Proxy, ns.NetNS) {
	t.Helper()
	roottest.NeedRoot(t)
	n := roottest.NewNS(t)
	p, _, _ := newTestProxy(t, func(c *Config) { c.NFT = newNSNFT(t, n) })
	return p, n
}

// loadEveryShape gives p every model case at once, each under its own name, ClusterIP and
// NodePort.
func loadEveryShape(p *Proxy) {
	var cases []twinCase
	for _, tc := range modelCases() {
		cases = append(cases, twinCase(tc))
	}
	loadShapes(p, cases, func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 96, 1, byte(i + 1)}) })
}

// loadShapes gives p the cases at once (but an ExternalName one), the i-th named after it,
// with ClusterIP clusterIP(i) and NodePort 30000+i.
func loadShapes(p *Proxy, cases []twinCase, clusterIP func(i int) netip.Addr) {
	for i, tc := range cases {
		if tc.name == "external-name" {
			continue
		}
		svc := tc.svc.DeepCopy()
		svc.Name = strings.ReplaceAll(tc.name, "-", "")
		svc.Spec.ClusterIP = clusterIP(i).String()
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if svc.Spec.Ports[0].NodePort != 0 {
			svc.Spec.Ports[0].NodePort = int32(30000 + i)
		}
		p.SetService(svc)
		for _, s := range tc.slices {
			s := s.DeepCopy()
			s.Name, s.Labels["kubernetes.io/service-name"] = svc.Name+"-1", svc.Name
			p.SetSlice(s)
		}
	}
}

// TestRootLoadsEveryShape loads every model case at once with the real nft, then changes
// and removes them through partial syncs: the text must be nft syntax, in an order nft takes.
func TestRootLoadsEveryShape(t *testing.T) {
	p, n := rootProxy(t)
	loadEveryShape(p)
	mustSync(t, p)
	if out := nftIn(t, n, "list", "table", "ip", "podnet"); !strings.Contains(out, "numgen random mod 2 0") {
		t.Fatalf("table lacks the cascade:\n%s", out)
	}
	p.SetSlice(slice("clusterip2endpoints", "clusterip2endpoints-1", web, ep("10.244.0.8")))
	p.DeleteService("default", "clientipaffinity")
	mustSync(t, p)
	if s := p.Stats(); s.FullSyncs != 1 || s.Syncs != 2 {
		t.Errorf("stats %+v: want one full and one partial sync", s)
	}
	if err := p.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := nftIn(t, n, "list", "tables"); strings.Contains(out, "podnet") {
		t.Errorf("Cleanup left the table: %s", out)
	}
}

// TestRootRepairsFlushedRuleset: `nft flush ruleset` behind the proxy's back is undone
// within 5 s.
func TestRootRepairsFlushedRuleset(t *testing.T) {
	p, n := rootProxy(t)
	p.cfg.CheckInterval = 200 * time.Millisecond
	twoServices(p)
	mustSync(t, p)
	// The check's netlink count sees the canary chain's rules (the masquerade mark and the
	// jump to services), and nothing once the ruleset is gone.
	count := func() int {
		c, err := p.nft.(ruleCounter).CountRules(context.Background(), canaryChain)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := count(); c != 2 {
		t.Fatalf("%s holds %d rules, want 2", canaryChain, c)
	}
	nftIn(t, n, "flush", "chain", "ip", "podnet", canaryChain)
	if c := count(); c != 0 {
		t.Fatalf("flushed %s holds %d rules", canaryChain, c)
	}
	nftIn(t, n, "delete", "table", "ip", "podnet")
	if c := count(); c != 0 {
		t.Fatalf("deleted table: %d rules", c)
	}
	if err := p.FullSync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.syncLoop(ctx)
	go p.checkLoop(ctx)
	nftIn(t, n, "flush", "ruleset")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := exec.Command("nsenter", "--net="+n.Path(), "nft", "list", "chain", "ip", "podnet", "svc-K4IXKQO6-default/web/tcp/http").CombinedOutput()
		if err == nil && strings.Contains(string(out), "dnat to 10.244.0.6:8080") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("rules not back 5 s after nft flush ruleset")
}

// TestRootPackets: from the node's own namespace, a ClusterIP with a listening endpoint
// answers, one without endpoints refuses at once, and an unknown port is refused.
func TestRootPackets(t *testing.T) {
	p, n := rootProxy(t)
	err := n.Do(func(ns.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.244.0.5/16")
		if err := netlink.AddrAdd(lo, addr); err != nil {
			return err
		}
		_, svcNet, _ := net.ParseCIDR("10.96.0.0/12")
		return netlink.RouteAdd(&netlink.Route{LinkIndex: lo.Attrs().Index, Dst: svcNet})
	})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := n.Do(func(ns.NetNS) (err error) { ln, err = net.Listen("tcp", "10.244.0.5:8080"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	p.SetService(service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)}))
	p.SetSlice(slice("web", "web-1", web, ep("10.244.0.5")))
	p.SetService(service("empty", "10.96.0.21", []corev1.ServicePort{tcp("http", 80, 8080)}))
	mustSync(t, p)
	dial := func(addr string) (string, error) {
		var got string
		err := n.Do(func(ns.NetNS) error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			buf := make([]byte, 5)
			k, err := c.Read(buf)
			got = string(buf[:k])
			return err
		})
		return got, err
	}
	if got, err := dial("10.96.0.20:80"); err != nil || got != "hello" {
		t.Errorf("ClusterIP with an endpoint: %q, %v", got, err)
	}
	for _, addr := range []string{"10.96.0.21:80", "10.96.0.20:81"} {
		start := time.Now()
		if _, err := dial(addr); !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
			t.Errorf("%s: %v after %v, want connection refused at once", addr, err, time.Since(start))
		}
	}
}
