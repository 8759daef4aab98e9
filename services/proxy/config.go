package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/api/registry"
)

// Config configures one Proxy (one address family).
type Config struct {
	// Registry is where Services and EndpointSlices are read from; nil is allowed only for
	// callers that feed objects with SetService/SetSlices (the bench) and never call Run.
	Registry *registry.Registry
	Logger   *slog.Logger
	// Family is knftables.IPv4Family (default) or knftables.IPv6Family.
	Family knftables.Family
	// Table is the nftables table the proxy owns; default "podnet".
	Table string
	// NFT runs transactions; nil means knftables.New(Family, Table).
	NFT knftables.Interface
	// Conntrack deletes stale UDP flows; nil means the netlink one in the current netns.
	Conntrack Conntrack
	// NodeName picks the local endpoints for the Local traffic policies.
	NodeName string
	// NodePortAddresses are the addresses NodePorts answer on; empty means every local
	// address except loopback (kube-proxy's default).
	NodePortAddresses []netip.Addr
	// ClusterCIDRs are the pod networks: sources inside them are "in the cluster".
	ClusterCIDRs []netip.Prefix
	// ServiceCIDRs are the ClusterIP ranges: unallocated addresses are dropped, and packets
	// for them from outside the node are dropped.
	ServiceCIDRs []netip.Prefix
	// MinSyncInterval bounds how often partial syncs run; default 20ms.
	MinSyncInterval time.Duration
	// CheckInterval is how often the table's presence is checked; default 1s.
	CheckInterval time.Duration
}

const (
	defaultTable           = "podnet"
	defaultMinSyncInterval = 20 * time.Millisecond
	defaultCheckInterval   = time.Second
)

// withDefaults fills the zero fields that have defaults (not NFT or Conntrack: those need
// the OS and are made by New).
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Family == "" {
		c.Family = knftables.IPv4Family
	}
	if c.Table == "" {
		c.Table = defaultTable
	}
	if c.ClusterCIDRs == nil {
		c.ClusterCIDRs = defaultPrefixes(c.Family, "10.244.0.0/16")
	}
	if c.ServiceCIDRs == nil {
		c.ServiceCIDRs = defaultPrefixes(c.Family, "10.96.0.0/12")
	}
	if c.MinSyncInterval == 0 {
		c.MinSyncInterval = defaultMinSyncInterval
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = defaultCheckInterval
	}
	return c
}

// defaultPrefixes are podnet's IPv4 defaults; IPv6 has none, it must be configured.
func defaultPrefixes(f knftables.Family, v4 string) []netip.Prefix {
	if f == knftables.IPv6Family {
		return []netip.Prefix{}
	}
	return []netip.Prefix{netip.MustParsePrefix(v4)}
}

func (c Config) validate() error {
	var errs []error
	if c.Family != knftables.IPv4Family && c.Family != knftables.IPv6Family {
		errs = append(errs, fmt.Errorf("family %q: must be %q or %q", c.Family, knftables.IPv4Family, knftables.IPv6Family))
	}
	v6 := c.Family == knftables.IPv6Family
	for _, p := range append(append([]netip.Prefix{}, c.ClusterCIDRs...), c.ServiceCIDRs...) {
		if !p.IsValid() || p.Addr().Is6() != v6 {
			errs = append(errs, fmt.Errorf("CIDR %s: not a valid %s prefix", p, c.Family))
		}
	}
	for _, a := range c.NodePortAddresses {
		if !a.IsValid() || a.Is6() != v6 {
			errs = append(errs, fmt.Errorf("NodePort address %s: not a valid %s address", a, c.Family))
		}
	}
	if c.MinSyncInterval < 0 || c.CheckInterval < 0 {
		errs = append(errs, errors.New("intervals must not be negative"))
	}
	return errors.Join(errs...)
}
