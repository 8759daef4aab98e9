package netplug

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Defaults of the netplug configuration.
const (
	DefaultBridge  = "podnet0"
	DefaultDataDir = "/var/lib/cni/netplug"
)

// PortMapping is one hostPort entry of runtimeConfig.portMappings, as the
// portMappings capability defines it.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Config is netplug's network configuration (type "netplug").
type Config struct {
	types.PluginConf

	Bridge      string `json:"bridge,omitempty"`
	Subnet      string `json:"subnet"`
	Gateway     string `json:"gateway,omitempty"`
	MTU         int    `json:"mtu,omitempty"`
	HairpinMode *bool  `json:"hairpinMode,omitempty"`
	IPMasq      *bool  `json:"ipMasq,omitempty"`
	DataDir     string `json:"dataDir,omitempty"`

	RuntimeConfig struct {
		PortMappings []PortMapping `json:"portMappings,omitempty"`
	} `json:"runtimeConfig,omitempty"`

	ValidAttachments []types.GCAttachment `json:"cni.dev/valid-attachments,omitempty"`

	// Parsed and defaulted by ParseConfig.
	Prefix    netip.Prefix `json:"-"`
	GatewayIP netip.Addr   `json:"-"`
}

// Hairpin reports whether hairpin mode is on (default true).
func (c *Config) Hairpin() bool { return c.HairpinMode == nil || *c.HairpinMode }

// Masquerade reports whether masquerade is on (default true).
func (c *Config) Masquerade() bool { return c.IPMasq == nil || *c.IPMasq }

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
	if c.Subnet == "" {
		return nil, invalid("subnet is required")
	}
	p, err := netip.ParsePrefix(c.Subnet)
	if err != nil {
		return nil, invalid("subnet %q: %v", c.Subnet, err)
	}
	if !p.Addr().Is4() {
		return nil, invalid("subnet %q: only IPv4 ranges are supported", c.Subnet)
	}
	if p.Bits() > 30 {
		return nil, invalid("subnet %q is too small (at most /30)", c.Subnet)
	}
	c.Prefix = p.Masked()
	if c.Gateway == "" {
		c.GatewayIP = c.Prefix.Addr().Next()
	} else {
		gw, err := netip.ParseAddr(c.Gateway)
		if err != nil {
			return nil, invalid("gateway %q: %v", c.Gateway, err)
		}
		if !c.Prefix.Contains(gw) || gw == c.Prefix.Addr() || gw == lastAddr(c.Prefix) {
			return nil, invalid("gateway %s is not a host address of %s", gw, c.Prefix)
		}
		c.GatewayIP = gw
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

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << host) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
