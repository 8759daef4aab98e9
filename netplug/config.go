package netplug

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Defaults of the netplug configuration.
const (
	DefaultBridge  = "podnet0"
	DefaultDataDir = "/var/lib/cni/netplug"
	// DefaultGCGracePeriod is how long GC keeps a reservation missing from
	// cni.dev/valid-attachments after its creation: an ADD that started after
	// the runtime computed its valid list must not lose its address.
	DefaultGCGracePeriod = time.Minute
)

// PortMapping is one hostPort entry of runtimeConfig.portMappings, as the
// portMappings capability defines it.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// RangeConf is one entry of "ranges", as host-local spells it.
type RangeConf struct {
	Subnet     string `json:"subnet"`
	Gateway    string `json:"gateway,omitempty"`
	RangeStart string `json:"rangeStart,omitempty"`
	RangeEnd   string `json:"rangeEnd,omitempty"`
}

// Range is a parsed, defaulted address range: pods get addresses from
// Start to End (inclusive) of Prefix, never Gateway, which the bridge holds.
type Range struct {
	Prefix              netip.Prefix
	Gateway, Start, End netip.Addr
}

// Config is netplug's network configuration (type "netplug"). Addresses come
// either from subnet (and gateway) or from ranges, a list of range sets as
// host-local's: each set gives the pod one address; netplug takes one range
// per set and at most one set per IP family (dual-stack: one IPv4 and one
// IPv6 set).
type Config struct {
	types.PluginConf

	Bridge        string        `json:"bridge,omitempty"`
	Subnet        string        `json:"subnet,omitempty"`
	Gateway       string        `json:"gateway,omitempty"`
	Ranges        [][]RangeConf `json:"ranges,omitempty"`
	MTU           int           `json:"mtu,omitempty"`
	HairpinMode   *bool         `json:"hairpinMode,omitempty"`
	IPMasq        *bool         `json:"ipMasq,omitempty"`
	DataDir       string        `json:"dataDir,omitempty"`
	GCGracePeriod string        `json:"gcGracePeriod,omitempty"`

	RuntimeConfig struct {
		PortMappings []PortMapping `json:"portMappings,omitempty"`
	} `json:"runtimeConfig,omitempty"`

	ValidAttachments []types.GCAttachment `json:"cni.dev/valid-attachments,omitempty"`

	// Parsed and defaulted by ParseConfig: the IPv4 range first, if any.
	IPRanges []Range       `json:"-"`
	GCGrace  time.Duration `json:"-"`
}

// Hairpin reports whether hairpin mode is on (default true).
func (c *Config) Hairpin() bool { return c.HairpinMode == nil || *c.HairpinMode }

// Masquerade reports whether masquerade is on (default true).
func (c *Config) Masquerade() bool { return c.IPMasq == nil || *c.IPMasq }

// HasIPv4 and HasIPv6 report whether the configuration has a range of that family.
func (c *Config) HasIPv4() bool { return c.rangeOf(true) != nil }

// HasIPv6 reports whether the configuration has an IPv6 range.
func (c *Config) HasIPv6() bool { return c.rangeOf(false) != nil }

func (c *Config) rangeOf(v4 bool) *Range {
	for i := range c.IPRanges {
		if c.IPRanges[i].Prefix.Addr().Is4() == v4 {
			return &c.IPRanges[i]
		}
	}
	return nil
}

// Prefixes lists the pod ranges' prefixes, IPv4 first.
func (c *Config) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, len(c.IPRanges))
	for i, r := range c.IPRanges {
		out[i] = r.Prefix
	}
	return out
}

func invalid(format string, a ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, "invalid netplug configuration", fmt.Sprintf(format, a...))
}

// ParseConfig decodes, defaults and validates a netplug configuration. Its
// errors are *types.Error with code 7 (invalid network config) or 6.
func ParseConfig(stdin []byte) (*Config, error) {
	c := &Config{}
	if err := json.Unmarshal(stdin, c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "cannot decode netplug configuration", err.Error())
	}
	if c.Name == "" {
		return nil, invalid("name is required")
	}
	if strings.ContainsAny(c.Name, "/\\") || c.Name == "." || c.Name == ".." {
		return nil, invalid("name %q must not contain \"/\"", c.Name)
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if len(c.Bridge) > 15 {
		return nil, invalid("bridge name %q is longer than 15 characters", c.Bridge)
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.MTU < 0 || (c.MTU != 0 && c.MTU < 576) || c.MTU > 65535 {
		return nil, invalid("mtu %d out of range (0 or 576..65535)", c.MTU)
	}
	c.GCGrace = DefaultGCGracePeriod
	if c.GCGracePeriod != "" {
		d, err := time.ParseDuration(c.GCGracePeriod)
		if err != nil || d < 0 {
			return nil, invalid("gcGracePeriod %q: want a duration such as \"1m\" or \"0s\"", c.GCGracePeriod)
		}
		c.GCGrace = d
	}
	switch {
	case c.Subnet != "" && len(c.Ranges) > 0:
		return nil, invalid("subnet and ranges are exclusive")
	case c.Subnet != "":
		r, err := parseRange(RangeConf{Subnet: c.Subnet, Gateway: c.Gateway})
		if err != nil {
			return nil, invalid("%v", err)
		}
		c.IPRanges = []Range{r}
	case len(c.Ranges) > 0:
		if c.Gateway != "" {
			return nil, invalid("gateway belongs in ranges when ranges is used")
		}
		for i, set := range c.Ranges {
			if len(set) != 1 {
				return nil, invalid("ranges[%d]: netplug takes exactly one range per range set, not %d", i, len(set))
			}
			r, err := parseRange(set[0])
			if err != nil {
				return nil, invalid("ranges[%d][0]: %v", i, err)
			}
			for _, o := range c.IPRanges {
				if o.Prefix.Addr().Is4() == r.Prefix.Addr().Is4() {
					return nil, invalid("ranges[%d][0]: a second %s range (%s after %s): at most one range per IP family", i, family(r.Prefix), r.Prefix, o.Prefix)
				}
			}
			c.IPRanges = append(c.IPRanges, r)
		}
		if len(c.IPRanges) == 2 && !c.IPRanges[0].Prefix.Addr().Is4() {
			c.IPRanges[0], c.IPRanges[1] = c.IPRanges[1], c.IPRanges[0]
		}
	default:
		return nil, invalid("subnet or ranges is required")
	}
	for _, pm := range c.RuntimeConfig.PortMappings {
		if pm.HostPort < 1 || pm.HostPort > 65535 || pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			return nil, invalid("port mapping %d->%d: ports must be 1..65535", pm.HostPort, pm.ContainerPort)
		}
		switch pm.Protocol {
		case "", "tcp", "udp", "sctp", "TCP", "UDP", "SCTP":
		default:
			return nil, invalid("port mapping %d: unknown protocol %q", pm.HostPort, pm.Protocol)
		}
		if pm.HostIP != "" {
			if _, err := netip.ParseAddr(pm.HostIP); err != nil {
				return nil, invalid("port mapping %d: hostIP %q: %v", pm.HostPort, pm.HostIP, err)
			}
		}
	}
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.PluginConf); err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "cannot parse prevResult", err.Error())
		}
	}
	return c, nil
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// parseRange validates and defaults one range: the gateway defaults to the
// first host address, the range to every host address (IPv4's broadcast
// excluded), as host-local does.
func parseRange(rc RangeConf) (Range, error) {
	p, err := netip.ParsePrefix(rc.Subnet)
	if err != nil {
		return Range{}, fmt.Errorf("subnet %q: %v", rc.Subnet, err)
	}
	if p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return Range{}, fmt.Errorf("subnet %q: not a plain IPv4 or IPv6 prefix", rc.Subnet)
	}
	if p.Bits() > p.Addr().BitLen()-2 {
		return Range{}, fmt.Errorf("subnet %q is too small (at most /%d)", rc.Subnet, p.Addr().BitLen()-2)
	}
	r := Range{Prefix: p.Masked()}
	first, last := r.Prefix.Addr().Next(), lastAddr(r.Prefix)
	if r.Prefix.Addr().Is4() {
		last = last.Prev() // the broadcast address
	}
	host := func(what, s string, def netip.Addr) (netip.Addr, error) {
		if s == "" {
			return def, nil
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%s %q: %v", what, s, err)
		}
		if a.Less(first) || last.Less(a) {
			return netip.Addr{}, fmt.Errorf("%s %s is not a host address of %s", what, a, r.Prefix)
		}
		return a, nil
	}
	if r.Gateway, err = host("gateway", rc.Gateway, first); err != nil {
		return Range{}, err
	}
	if r.Start, err = host("rangeStart", rc.RangeStart, first); err != nil {
		return Range{}, err
	}
	if r.End, err = host("rangeEnd", rc.RangeEnd, last); err != nil {
		return Range{}, err
	}
	if r.End.Less(r.Start) {
		return Range{}, fmt.Errorf("rangeEnd %s is before rangeStart %s", r.End, r.Start)
	}
	return r, nil
}

// lastAddr is the last address of a prefix (IPv4: its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := range b {
		keep := p.Bits() - 8*i
		switch {
		case keep <= 0:
			b[i] = 0xff
		case keep < 8:
			b[i] |= 0xff >> keep
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
