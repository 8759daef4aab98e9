package netplug

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"unicode"

	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/netplug/nft"
)

// NftFirewall is the Firewall of netplug/nft: it builds its knftables
// client (two nft runs) only when a change is needed, and skips EnsureBase
// when one `nft list table` shows the base rules already in place.
type NftFirewall struct {
	Table string // default nft.DefaultTable

	once  sync.Once
	rules *nft.Rules
	err   error
}

func (f *NftFirewall) table() string {
	if f.Table == "" {
		return nft.DefaultTable
	}
	return f.Table
}

func (f *NftFirewall) get() (*nft.Rules, error) {
	f.once.Do(func() {
		iface, err := knftables.New(knftables.IPv4Family, f.table())
		if err != nil {
			f.err = fmt.Errorf("knftables: %w", err)
			return
		}
		f.rules = nft.New(nft.Config{Table: f.table()}, iface)
	})
	return f.rules, f.err
}

// baseInPlace reports whether the table already jumps to its hostport and
// masquerade chains and masquerades podCIDR.
func baseInPlace(ruleset string, podCIDR netip.Prefix) bool {
	p := podCIDR.Masked().String()
	for _, want := range []string{
		"fib daddr type local jump hostports",
		"jump hairpin-masquerade",
		"jump pod-masquerade",
		"ip saddr " + p + " ip daddr != " + p + " masquerade",
	} {
		if !strings.Contains(ruleset, want) {
			return false
		}
	}
	return true
}

// EnsureBase implements Firewall.
func (f *NftFirewall) EnsureBase(ctx context.Context, podCIDR netip.Prefix) error {
	out, err := exec.CommandContext(ctx, "nft", "list", "table", "ip", f.table()).Output()
	if err == nil && baseInPlace(string(out), podCIDR) {
		return nil
	}
	r, err := f.get()
	if err != nil {
		return err
	}
	return r.EnsureBase(ctx, podCIDR)
}

// AddPortMappings implements Firewall.
func (f *NftFirewall) AddPortMappings(ctx context.Context, containerID string, podIP netip.Addr, pms []PortMapping) error {
	r, err := f.get()
	if err != nil {
		return err
	}
	out := make([]nft.PortMapping, 0, len(pms))
	for _, pm := range pms {
		m := nft.PortMapping{HostPort: uint16(pm.HostPort), ContainerPort: uint16(pm.ContainerPort), Protocol: strings.ToLower(pm.Protocol)}
		if pm.HostIP != "" {
			a, err := netip.ParseAddr(pm.HostIP)
			if err != nil {
				return fmt.Errorf("hostIP %q: %w", pm.HostIP, err)
			}
			m.HostIP = a
		}
		out = append(out, m)
	}
	return r.AddPortMappings(ctx, containerID, podIP, out)
}

// RemovePortMappings implements Firewall.
func (f *NftFirewall) RemovePortMappings(ctx context.Context, containerID string) error {
	r, err := f.get()
	if err != nil {
		return err
	}
	return r.RemovePortMappings(ctx, containerID)
}

// GC implements Firewall.
func (f *NftFirewall) GC(ctx context.Context, valid map[string]bool) error {
	r, err := f.get()
	if err != nil {
		return err
	}
	return r.GC(ctx, valid)
}

// TableFor is the nftables table of one network: "netplug-<name>". Each network owns a table, so
// that two netplug networks never overwrite each other's masquerade rule or, in GC, drop each
// other's hostPort rules. Characters nftables does not allow in a name are replaced; when that
// (or truncation) happened, a hash of the real name keeps names apart.
func TableFor(network string) string {
	var b strings.Builder
	for _, r := range network {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := "netplug-" + b.String()
	if b.String() != network || len(name) > 64 {
		sum := sha256.Sum256([]byte(network))
		name = fmt.Sprintf("%.47s-%x", name, sum[:8])
	}
	return name
}
