package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/podnet/podnet/api/registry"
)

// Defaults.
const (
	DefaultZone        = "cluster.local."
	DefaultTTL         = 5 * time.Second
	DefaultResolvConf  = "/etc/resolv.conf"
	DefaultForwardTry  = 2 * time.Second
	DefaultCacheSize   = 10000
	DefaultMaxCacheTTL = 3600 * time.Second
	DefaultMaxNegTTL   = 1800 * time.Second
	systemdResolvConf  = "/run/systemd/resolve/resolv.conf"
)

// Config wires a Server. Zero fields take the defaults above.
type Config struct {
	// Zone is the cluster domain (default cluster.local.).
	Zone string
	// TTL of cluster answers (default 5 s; whole seconds).
	TTL time.Duration
	// Listen are the addresses served over UDP and TCP. Empty: no listeners (Answer only).
	Listen []netip.AddrPort
	// UDPSockets is the number of SO_REUSEPORT UDP sockets per address, each read by one
	// goroutine (default: one per two CPUs, at least one). The clients are the node's own pods,
	// on the same CPUs; a socket that takes more of the queries reads them in bigger batches,
	// which costs less per query (on 2 CPUs under dnsperf: 6.4 µs with one socket, 7.4 with two).
	UDPSockets int
	// ResolvConf names the upstream resolvers (default /etc/resolv.conf). When it names only a
	// local stub (127.0.0.53), SystemdResolvConf is read instead.
	ResolvConf string
	// SystemdResolvConf is systemd-resolved's list of real upstreams
	// (default /run/systemd/resolve/resolv.conf).
	SystemdResolvConf string
	// Upstreams, when set, replace the resolv.conf lookup (tests, explicit configuration).
	Upstreams []netip.AddrPort
	// NoForward turns forwarding off: names outside the cluster zone get SERVFAIL.
	NoForward bool
	// ForwardTimeout is the wait for one upstream try (default 2 s).
	ForwardTimeout time.Duration
	// ServiceIP is the DNS Service's ClusterIP: never used as an upstream.
	ServiceIP netip.Addr
	// ServiceCIDRs and PodCIDRs: reverse names inside them that match nothing are answered
	// NXDOMAIN here instead of being forwarded. Empty (the default) forwards them, as CoreDNS's
	// `fallthrough in-addr.arpa ip6.arpa` does.
	ServiceCIDRs, PodCIDRs []netip.Prefix
	// LocalIPs are this server's own addresses, for NS answers (CoreDNS's bound IPs). Default:
	// the non-loopback, specified Listen addresses.
	LocalIPs []netip.Addr
	// CacheSize bounds the positive and the negative cache each, and the packed UDP replies
	// kept per index snapshot (default 10,000; -1 disables all three).
	CacheSize int
	// MaxCacheTTL and MaxNegativeTTL cap cached TTLs (defaults 3600 s and 1800 s).
	MaxCacheTTL, MaxNegativeTTL time.Duration
	// LoopProbes is how many times the loop probe is sent at start (default 3; -1 disables).
	LoopProbes int
	// Registry feeds the index in Run; nil: the index is fed by the Set/Delete methods only.
	Registry *registry.Registry
	Logger   *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Zone == "" {
		c.Zone = DefaultZone
	}
	c.Zone = strings.ToLower(mdns.Fqdn(c.Zone))
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	if c.SystemdResolvConf == "" {
		c.SystemdResolvConf = systemdResolvConf
	}
	if c.ForwardTimeout == 0 {
		c.ForwardTimeout = DefaultForwardTry
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxCacheTTL == 0 {
		c.MaxCacheTTL = DefaultMaxCacheTTL
	}
	if c.MaxNegativeTTL == 0 {
		c.MaxNegativeTTL = DefaultMaxNegTTL
	}
	if c.LoopProbes == 0 {
		c.LoopProbes = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.LocalIPs) == 0 {
		for _, ap := range c.Listen {
			if a := ap.Addr(); a.IsValid() && !a.IsLoopback() && !a.IsUnspecified() {
				c.LocalIPs = append(c.LocalIPs, a.Unmap())
			}
		}
	}
}

func (c *Config) validate() error {
	var errs []error
	if _, ok := mdns.IsDomainName(c.Zone); !ok || c.Zone == "." {
		errs = append(errs, fmt.Errorf("zone %q is not a domain name", c.Zone))
	}
	if c.TTL < time.Second || c.TTL%time.Second != 0 || c.TTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("ttl %v: want whole seconds between 1s and 24h", c.TTL))
	}
	if c.ForwardTimeout < 0 {
		errs = append(errs, fmt.Errorf("forward timeout %v is negative", c.ForwardTimeout))
	}
	if c.UDPSockets < 0 {
		errs = append(errs, fmt.Errorf("udp sockets %d is negative", c.UDPSockets))
	}
	if c.CacheSize < -1 {
		errs = append(errs, fmt.Errorf("cache size %d: want -1 (off) or more", c.CacheSize))
	}
	for _, ap := range c.Listen {
		if !ap.IsValid() {
			errs = append(errs, fmt.Errorf("listen address %v is invalid", ap))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns config: %w", err)
	}
	return nil
}
