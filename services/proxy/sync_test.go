package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// flakyNFT fails the next transaction when asked to.
type flakyNFT struct {
	*knftables.Fake
	failNext bool
	last     *knftables.Transaction
}

func (f *flakyNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	f.last = tx
	if f.failNext {
		f.failNext = false
		return errors.New("injected failure")
	}
	return f.Fake.Run(ctx, tx)
}

func twoServices(p *Proxy) {
	p.SetService(service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)}))
	p.SetSlice(slice("web", "web-1", web, ep("10.244.0.5"), ep("10.244.0.6")))
	p.SetService(service("api", "10.96.0.30", []corev1.ServicePort{tcp("http", 80, 8080)}))
	p.SetSlice(slice("api", "api-1", web, ep("10.244.0.9")))
}

func TestPartialSyncTouchesOnlyTheChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Proxy)
		want   string
	}{
		{"endpoint replaced", func(p *Proxy) {
			p.SetSlice(slice("web", "web-1", web, ep("10.244.0.5"), ep("10.244.0.7")))
		}, `flush chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.7:8080
add element ip podnet hairpin { 10.244.0.7 . 10.244.0.7 }
delete element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }`},
		{"service deleted", func(p *Proxy) { p.DeleteService("default", "web") },
			`flush chain ip podnet svc-K4IXKQO6-default/web/tcp/http
delete element ip podnet cluster-ips { 10.96.0.20 }
delete element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
delete element ip podnet service-ips { 10.96.0.20 . tcp . 80 }
delete chain ip podnet svc-K4IXKQO6-default/web/tcp/http`},
		{"last endpoint gone", func(p *Proxy) { p.DeleteSlice("default", "web-1") },
			`flush chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add element ip podnet no-endpoint-services { 10.96.0.20 . tcp . 80 : goto reject-chain }
delete element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
delete element ip podnet service-ips { 10.96.0.20 . tcp . 80 }
delete chain ip podnet svc-K4IXKQO6-default/web/tcp/http`},
		{"unrelated slice rewritten unchanged", func(p *Proxy) {
			p.SetSlice(slice("web", "web-1", web, ep("10.244.0.6"), ep("10.244.0.5")))
		}, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, fake, _ := newTestProxy(t, nil)
			twoServices(p)
			mustSync(t, p)
			before := fake.LastTransaction
			tc.change(p)
			mustSync(t, p)
			got := ""
			if fake.LastTransaction != before {
				got = strings.TrimSpace(fake.LastTransaction.String())
			}
			if got != tc.want {
				t.Errorf("transaction:\n%s\nwant:\n%s", got, tc.want)
			}
			// The table must equal a from-scratch sync of the same objects.
			incremental := sortedDump(fake)
			if err := p.FullSync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if full := sortedDump(fake); full != incremental {
				t.Errorf("partial sync left:\n%s\nfull sync gives:\n%s", incremental, full)
			}
		})
	}
}

func TestCreateDeleteCyclesLeaveTableAsItBegan(t *testing.T) {
	p, fake, _ := newTestProxy(t, nil)
	twoServices(p)
	mustSync(t, p)
	begin := sortedDump(fake)
	for i := 0; i < 50; i++ {
		p.SetService(service("tmp", "10.96.0.40", []corev1.ServicePort{tcp("http", 80, 8080)}))
		p.SetSlice(slice("tmp", "tmp-1", web, ep("10.244.0.5"), ep("10.244.0.11")))
		mustSync(t, p)
		p.DeleteService("default", "tmp")
		p.DeleteSlice("default", "tmp-1")
		mustSync(t, p)
	}
	if end := sortedDump(fake); end != begin {
		t.Errorf("table after cycles:\n%s\nwant:\n%s", end, begin)
	}
}

func TestFailedTransactionLeadsToFullSync(t *testing.T) {
	fake := &flakyNFT{Fake: knftables.NewFake(knftables.IPv4Family, "podnet")}
	p, _, _ := newTestProxy(t, func(c *Config) { c.NFT = fake })
	twoServices(p)
	mustSync(t, p)
	p.SetSlice(slice("web", "web-1", web, ep("10.244.0.5")))
	fake.failNext = true
	if err := p.SyncNow(context.Background()); err == nil {
		t.Fatal("sync with a failing transaction succeeded")
	}
	mustSync(t, p)
	ops := strings.Split(strings.TrimSpace(fake.last.String()), "\n")
	if want := []string{"add table ip podnet", "delete table ip podnet", "add table ip podnet"}; strings.Join(ops[:3], "|") != strings.Join(want, "|") {
		t.Errorf("sync after failure starts %q, want a full sync %q", ops[:3], want)
	}
	if !strings.Contains(fake.Dump(), "add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.5:8080") {
		t.Errorf("full sync lost the change:\n%s", fake.Dump())
	}
	if s := p.Stats(); s.FullSyncs != 2 || s.Failures != 1 {
		t.Errorf("stats %+v, want 2 full syncs and 1 failure", s)
	}
}

func TestConntrackCleanup(t *testing.T) {
	dnsPorts := []discoveryv1.EndpointPort{sport("dns", corev1.ProtocolUDP, 53)}
	dns := service("dns", "10.96.0.10", []corev1.ServicePort{udp("dns", 53, 53)})
	tests := []struct {
		name   string
		before []discoveryv1.Endpoint
		after  []discoveryv1.Endpoint
		want   string
	}{
		{"endpoint replaced", []discoveryv1.Endpoint{ep("10.244.0.7")}, []discoveryv1.Endpoint{ep("10.244.0.8")},
			"dst=10.96.0.10:53 dport=0 reply=10.244.0.7:53"},
		{"first endpoint", nil, []discoveryv1.Endpoint{ep("10.244.0.8")},
			"dst=10.96.0.10:53 dport=0 reply=invalid AddrPort"},
		{"endpoint added beside another", []discoveryv1.Endpoint{ep("10.244.0.7")}, []discoveryv1.Endpoint{ep("10.244.0.7"), ep("10.244.0.8")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, ct := newTestProxy(t, nil)
			p.SetService(dns)
			p.SetSlice(slice("dns", "dns-1", dnsPorts, tc.before...))
			mustSync(t, p)
			ct.take()
			p.SetSlice(slice("dns", "dns-1", dnsPorts, tc.after...))
			mustSync(t, p)
			if got := flowsText(ct.take()); got != tc.want {
				t.Errorf("flows:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// The first sync of a process does not know what the table held before it (a restart): it
// deletes only the UDP entries through the services that their current endpoints do not
// answer, never a live flow.
func TestConntrackFirstSync(t *testing.T) {
	p, _, ct := newTestProxy(t, nil)
	p.SetService(service("dns", "10.96.0.10", []corev1.ServicePort{udp("dns", 53, 53)}))
	p.SetSlice(slice("dns", "dns-1", []discoveryv1.EndpointPort{sport("dns", corev1.ProtocolUDP, 53)}, ep("10.244.0.7")))
	p.SetService(service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)}))
	mustSync(t, p)
	if got, want := flowsText(ct.take()), "dst=10.96.0.10:53 dport=0 reply=invalid AddrPort spare=[10.244.0.7:53]"; got != want {
		t.Errorf("flows:\n%s\nwant:\n%s", got, want)
	}
}

func TestUDPFilterSpare(t *testing.T) {
	spare := []netip.AddrPort{netip.MustParseAddrPort("10.244.0.7:53")}
	f := udpFilter(Flow{OrigDst: netip.MustParseAddrPort("10.96.0.10:53"), Spare: &spare})
	flow := func(replySrc string) *netlink.ConntrackFlow {
		r := netip.MustParseAddrPort(replySrc)
		c := &netlink.ConntrackFlow{}
		c.Forward.Protocol, c.Forward.DstIP, c.Forward.DstPort = unix.IPPROTO_UDP, net.ParseIP("10.96.0.10"), 53
		c.Reverse.SrcIP, c.Reverse.SrcPort = r.Addr().AsSlice(), r.Port()
		return c
	}
	if f.MatchConntrackFlow(flow("10.244.0.7:53")) {
		t.Error("deletes a flow its current endpoint answers")
	}
	if !f.MatchConntrackFlow(flow("10.244.0.9:53")) {
		t.Error("keeps a flow to an endpoint that is gone")
	}
}

// sortedDump is the Fake's dump with its lines sorted: the Fake keeps elements in insertion
// order, which differs between a partial and a full sync of the same state.
func sortedDump(fake *knftables.Fake) string {
	lines := strings.Split(fake.Dump(), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// A new Service with a selector waits (up to newServiceGrace) for the slice the EndpointSlice
// controller writes right after it, so that both land in one transaction; without a slice it
// is programmed once the grace is over.
func TestNewServiceWaitsForItsFirstSlice(t *testing.T) {
	flaky := &flakyNFT{Fake: knftables.NewFake(knftables.IPv4Family, "podnet")}
	p, _, _ := newTestProxy(t, func(c *Config) { c.NFT = flaky })
	mustSync(t, p)
	flaky.last = nil
	p.SetService(service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)}))
	mustSync(t, p)
	if flaky.last != nil {
		t.Fatalf("a new service without its slice was programmed at once:\n%s", flaky.last)
	}
	p.SetSlice(slice("web", "web-1", web, ep("10.244.0.5")))
	mustSync(t, p)
	want := `add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.5:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }
`
	if flaky.last == nil || flaky.last.String() != want {
		t.Fatalf("service and slice in one transaction:\n%v\nwant:\n%s", flaky.last, want)
	}

	flaky.last = nil
	p.SetService(service("lonely", "10.96.0.21", []corev1.ServicePort{tcp("http", 80, 8080)}))
	mustSync(t, p)
	if flaky.last != nil {
		t.Fatalf("programmed within the grace:\n%s", flaky.last)
	}
	p.mu.Lock()
	p.firstSeen["default/lonely"] = time.Now().Add(-newServiceGrace)
	p.mu.Unlock()
	mustSync(t, p)
	if flaky.last == nil || !strings.Contains(flaky.last.String(), "no-endpoint-services { 10.96.0.21 . tcp . 80 : goto reject-chain }") {
		t.Fatalf("after the grace the service is refused without endpoints; transaction:\n%v", flaky.last)
	}
}
