package netplug

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"unicode"

	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/netplug/nft"
)

// NftFirewall is the Firewall of netplug/nft: one table per IP family, both
// named Table. It builds a family's knftables client (two nft runs) only when
// a change is needed, and skips EnsureBase when one `nft list table` shows the
// base rules already in place.
type NftFirewall struct {
	Table    string             // default nft.DefaultTable
	Families []knftables.Family // default IPv4 only

	mu    sync.Mutex
	rules map[knftables.Family]*nft.Rules
}

// NewNftFirewall is the NftFirewall of a configuration: table TableFor(name),
// a family per range.
func NewNftFirewall(cfg *Config) (Firewall, error) {
	f := &NftFirewall{Table: TableFor(cfg.Name)}
	if cfg.HasIPv4() {
		f.Families = append(f.Families, knftables.IPv4Family)
	}
	if cfg.HasIPv6() {
		f.Families = append(f.Families, knftables.IPv6Family)
	}
	return f, nil
}

func (f *NftFirewall) table() string {
	if f.Table == "" {
		return nft.DefaultTable
	}
	return f.Table
}

func (f *NftFirewall) families() []knftables.Family {
	if len(f.Families) == 0 {
		return []knftables.Family{knftables.IPv4Family}
	}
	return f.Families
}

func familyOf(a netip.Addr) knftables.Family {
	if a.Unmap().Is4() {
		return knftables.IPv4Family
	}
	return knftables.IPv6Family
}

func (f *NftFirewall) get(fam knftables.Family) (*nft.Rules, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.rules[fam]; r != nil {
		return r, nil
	}
	iface, err := knftables.New(fam, f.table())
	if err != nil {
		return nil, fmt.Errorf("knftables %s: %w", fam, err)
	}
	if f.rules == nil {
		f.rules = map[knftables.Family]*nft.Rules{}
	}
	f.rules[fam] = nft.New(nft.Config{Table: f.table(), Family: fam}, iface)
	return f.rules[fam], nil
}

// baseInPlace reports whether the table already jumps to its hostport and
// masquerade chains and masquerades podCIDR.
func baseInPlace(ruleset string, podCIDR netip.Prefix) bool {
	p := podCIDR.Masked().String()
	ipx := "ip"
	if podCIDR.Addr().Is6() {
		ipx = "ip6"
	}
	for _, want := range []string{
		"fib daddr type local jump hostports",
		"jump hairpin-masquerade",
		"jump pod-masquerade",
		ipx + " saddr " + p + " " + ipx + " daddr != " + p + " masquerade",
	} {
		if !strings.Contains(ruleset, want) {
			return false
		}
	}
	return true
}

// EnsureBase implements Firewall: the families' tables are checked (and
// made) in parallel.
func (f *NftFirewall) EnsureBase(ctx context.Context, podCIDRs []netip.Prefix) error {
	errs := make([]error, len(podCIDRs))
	var wg sync.WaitGroup
	for i, p := range podCIDRs {
		wg.Go(func() {
			fam := familyOf(p.Addr())
			out, err := exec.CommandContext(ctx, "nft", "list", "table", string(fam), f.table()).Output()
			if err == nil && baseInPlace(string(out), p) {
				return
			}
			r, err := f.get(fam)
			if err == nil {
				err = r.EnsureBase(ctx, p)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// AddPortMappings implements Firewall: each family's table DNATs to the pod
// address of that family; a mapping whose hostIP is of one family only goes
// to that family's table.
func (f *NftFirewall) AddPortMappings(ctx context.Context, containerID string, podIPs []netip.Addr, pms []PortMapping) error {
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
	for _, ip := range podIPs {
		r, err := f.get(familyOf(ip))
		if err != nil {
			return err
		}
		if err := r.AddPortMappings(ctx, containerID, ip, out); err != nil {
			return err
		}
	}
	return nil
}

// RemovePortMappings implements Firewall.
func (f *NftFirewall) RemovePortMappings(ctx context.Context, containerID string) error {
	var errs []error
	for _, fam := range f.families() {
		r, err := f.get(fam)
		if err == nil {
			err = r.RemovePortMappings(ctx, containerID)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// GC implements Firewall.
func (f *NftFirewall) GC(ctx context.Context, valid map[string]bool) error {
	var errs []error
	for _, fam := range f.families() {
		r, err := f.get(fam)
		if err == nil {
			err = r.GC(ctx, valid)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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
