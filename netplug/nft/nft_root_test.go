package nft

import (
	"context"
	"fmt"
	"github.com/podnet/podnet/internal/roottest"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"sigs.k8s.io/knftables"
)

// rootNS makes a fresh network namespace removed at cleanup, or skips (fails under
// PODNET_INTEGRATION=1) when not root or nft is missing.
func rootNS(t testing.TB) ns.NetNS {
	t.Helper()
	roottest.NeedRoot(t)
	_, err := exec.LookPath("nft")
	roottest.Need(t, err == nil, "the nft binary")
	return roottest.NewNS(t)
}

// in runs f inside netns on a locked OS thread; nft runs as a child of that thread, so it
// sees the namespace's nftables and never the host's.
func in(t *testing.T, netns ns.NetNS, f func() error) {
	t.Helper()
	if err := netns.Do(func(ns.NetNS) error { return f() }); err != nil {
		t.Fatal(err)
	}
}

func listTable(netns ns.NetNS) (string, error) {
	var out []byte
	err := netns.Do(func(ns.NetNS) error {
		var err error
		out, err = exec.Command("nft", "list", "table", "ip", DefaultTable).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nft list table: %w: %s", err, out)
		}
		return nil
	})
	return string(out), err
}

func realRules(t testing.TB) *Rules {
	t.Helper()
	nft, err := knftables.New(knftables.IPv4Family, DefaultTable)
	if err != nil {
		t.Fatalf("knftables.New: %v", err)
	}
	return New(Config{}, nft)
}

const realBase = `table ip netplug {
	comment "netplug CNI plugin"
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump hostports
	}

	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump hostports
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump hairpin-masquerade
		jump pod-masquerade
	}

	chain hostports {
%s	}

	chain hairpin-masquerade {
		meta mark & 0x00002000 == 0x00000000 return
		meta mark set meta mark ^ 0x00002000
		masquerade
	}

	chain pod-masquerade {
		ip saddr 10.244.0.0/24 ip daddr != 10.244.0.0/24 masquerade comment "netplug base v1, pod range 10.244.0.0/24"
	}
%s}
`

func TestRealNFT(t *testing.T) {
	netns := rootNS(t)
	ctx := context.Background()
	var r *Rules
	in(t, netns, func() error {
		r = realRules(t)
		if err := r.EnsureBase(ctx, podCIDR); err != nil {
			return err
		}
		if err := r.EnsureBase(ctx, podCIDR); err != nil {
			return err
		}
		if err := r.AddPortMappings(ctx, "abc", ipA, []PortMapping{
			{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 53, ContainerPort: 5353, Protocol: "udp", HostIP: netip.MustParseAddr("192.168.1.1")},
		}); err != nil {
			return err
		}
		if err := r.AddPortMappings(ctx, "abc", ipA, web); err != nil { // replaces
			return err
		}
		return r.AddPortMappings(ctx, "def", ipB, web)
	})
	got, err := listTable(netns)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(realBase, `		jump hp-ba7816bf8f01cfea comment "abc"
		jump hp-cb8379ac2098aa16 comment "def"
`, `
	chain hp-ba7816bf8f01cfea {
		comment "abc"
		tcp dport 8080 ip saddr { 10.244.0.5, 127.0.0.0/8 } meta mark set meta mark | 0x00002000
		tcp dport 8080 dnat to 10.244.0.5:80
	}

	chain hp-cb8379ac2098aa16 {
		comment "def"
		tcp dport 8080 ip saddr { 10.244.0.6, 127.0.0.0/8 } meta mark set meta mark | 0x00002000
		tcp dport 8080 dnat to 10.244.0.6:80
	}
`)
	if got != want {
		t.Fatalf("nft list table:\n%s\nwant:\n%s", got, want)
	}

	in(t, netns, func() error {
		ids, err := r.Owned(ctx)
		if err != nil {
			return err
		}
		if !slices.Equal(ids, []string{"abc", "def"}) {
			return fmt.Errorf("Owned = %q, want [abc def]", ids)
		}
		if err := r.RemovePortMappings(ctx, "abc"); err != nil {
			return err
		}
		if err := r.RemovePortMappings(ctx, "abc"); err != nil {
			return err
		}
		if err := r.GC(ctx, map[string]bool{"def": true}); err != nil {
			return err
		}
		if ids, err := r.Owned(ctx); err != nil || !slices.Equal(ids, []string{"def"}) {
			return fmt.Errorf("Owned = %q, %v; want [def]", ids, err)
		}
		return r.GC(ctx, nil)
	})
	if got, err = listTable(netns); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(realBase, "", ""); got != want {
		t.Fatalf("after Remove and GC, nft list table:\n%s\nwant:\n%s", got, want)
	}
}

// TestRealNFTConcurrent stands in for concurrent plugin processes: separate knftables
// instances adding, removing and collecting at once must leave exactly the survivors.
func TestRealNFTConcurrent(t *testing.T) {
	netns := rootNS(t)
	ctx := context.Background()
	in(t, netns, func() error { return realRules(t).EnsureBase(ctx, podCIDR) })
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n+3)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- netns.Do(func(ns.NetNS) error {
				nft, err := knftables.New(knftables.IPv4Family, DefaultTable)
				if err != nil {
					return err
				}
				r := New(Config{}, nft)
				id := fmt.Sprintf("c%02d", i)
				ip := netip.AddrFrom4([4]byte{10, 244, 0, byte(10 + i)})
				if err := r.AddPortMappings(ctx, id, ip, []PortMapping{{HostPort: uint16(30000 + i), ContainerPort: 80}}); err != nil {
					return err
				}
				if i%2 == 1 {
					return r.RemovePortMappings(ctx, id)
				}
				return nil
			})
		}()
	}
	valid := map[string]bool{}
	for i := 0; i < n; i += 2 {
		valid[fmt.Sprintf("c%02d", i)] = true
	}
	for range 3 { // GCs racing the ADDs and DELs keep the valid ones
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- netns.Do(func(ns.NetNS) error {
				nft, err := knftables.New(knftables.IPv4Family, DefaultTable)
				if err != nil {
					return err
				}
				return New(Config{}, nft).GC(ctx, valid)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var want []string
	for i := 0; i < n; i += 2 {
		want = append(want, fmt.Sprintf("c%02d", i))
	}
	in(t, netns, func() error {
		r := realRules(t)
		ids, err := r.Owned(ctx)
		if err != nil {
			return err
		}
		if !slices.Equal(ids, want) {
			return fmt.Errorf("Owned = %q, want %q", ids, want)
		}
		return r.GC(ctx, nil)
	})
	got, err := listTable(netns)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "hp-") || strings.Contains(got, "dnat") {
		t.Fatalf("GC left container rules:\n%s", got)
	}
}

// BenchmarkRealNFT measures what netplug pays per ADD (EnsureBase, AddPortMappings) and per DEL
// (RemovePortMappings) against the real nft binary.
func BenchmarkRealNFT(b *testing.B) {
	netns := rootNS(b)
	ctx := context.Background()
	run := func(name string, f func(r *Rules, i int) error) {
		b.Run(name, func(b *testing.B) {
			if err := netns.Do(func(ns.NetNS) error {
				r := realRules(b)
				b.ResetTimer()
				for i := range b.N {
					if err := f(r, i); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		})
	}
	run("EnsureBase", func(r *Rules, _ int) error { return r.EnsureBase(ctx, podCIDR) })
	run("AddPortMappings", func(r *Rules, i int) error {
		return r.AddPortMappings(ctx, fmt.Sprintf("b%d", i), ipA, web)
	})
	run("RemovePortMappings", func(r *Rules, i int) error { return r.RemovePortMappings(ctx, fmt.Sprintf("b%d", i)) })
	run("RemoveMissing", func(r *Rules, i int) error { return r.RemovePortMappings(ctx, "missing") })
}
