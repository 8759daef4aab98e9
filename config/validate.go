package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Parsed holds the typed form of the settings Config keeps as text. It is only produced for a
// configuration that passed validation, so its values need no further checks.
type Parsed struct {
	// NodeIP is the zero Addr while the node IP is still to be detected (before Complete).
	NodeIP        netip.Addr
	ClusterCIDR   netip.Prefix
	PodCIDR       netip.Prefix
	ServiceCIDR   netip.Prefix
	ClusterDNS    netip.Addr
	NodePortRange PortRange
	// LoadBalancerPools are network.loadBalancerPools in the order configured; nil for none.
	LoadBalancerPools []AddressRange
	LogLevel          slog.Level
}

// PortRange is a contiguous range of ports: Base, Base+1, …, Base+Size-1.
type PortRange struct {
	Base int
	Size int
}

// String renders the range the way it is configured, e.g. "30000-32767".
func (r PortRange) String() string {
	return fmt.Sprintf("%d-%d", r.Base, r.Max())
}

// Max is the last port of the range.
func (r PortRange) Max() int { return r.Base + r.Size - 1 }

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port int) bool { return port >= r.Base && port <= r.Max() }

// ParsePortRange parses "BASE-MAX" (both inclusive, 1-65535) or a single port.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	base, err1 := parsePort(lo)
	last, err2 := parsePort(hi)
	if err := errors.Join(err1, err2); err != nil {
		return PortRange{}, fmt.Errorf("invalid port range %q: %w", s, err)
	}
	if last < base {
		return PortRange{}, fmt.Errorf("invalid port range %q: end is before start", s)
	}
	return PortRange{Base: base, Size: last - base + 1}, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return p, nil
}

// problems collects `field: message` lines so that validation reports everything at once.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// Validate reports every problem of c at once, one `field: message` error per line.
func (c Config) Validate() error {
	_, err := c.Parse()
	return err
}

// Parse validates c and returns its typed values; on error it reports every problem at once.
func (c Config) Parse() (Parsed, error) {
	var p problems
	var out Parsed
	c.checkPaths(&p)
	c.checkNode(&p, &out)
	c.checkNetwork(&p, &out)
	c.checkRuntime(&p)
	c.checkLog(&p, &out)
	if len(p) > 0 {
		return Parsed{}, errors.Join(p...)
	}
	return out, nil
}

func (c Config) checkPaths(p *problems) {
	requireAbs(p, "dataDir", c.DataDir)
	requireAbs(p, "runDir", c.RunDir)
	if len(c.CNI.BinDirs) == 0 {
		p.add("cni.binDirs", "must list at least one directory")
	}
	for i, d := range c.CNI.BinDirs {
		requireAbs(p, fmt.Sprintf("cni.binDirs[%d]", i), d)
	}
	if c.CNI.ConfDir != "" {
		requireAbs(p, "cni.confDir", c.CNI.ConfDir)
	}
}

func requireAbs(p *problems, field, path string) {
	switch {
	case path == "":
		p.add(field, "must not be empty")
	case !filepath.IsAbs(path):
		p.add(field, "must be an absolute path, not %q", path)
	}
}

func (c Config) checkNode(p *problems, out *Parsed) {
	if c.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.NodeName) {
			p.add("nodeName", "invalid value %q: %s", c.NodeName, msg)
		}
	}
	if c.NodeIP != "" {
		out.NodeIP = parseIPv4(p, "nodeIP", c.NodeIP)
		if out.NodeIP.IsValid() && out.NodeIP.IsUnspecified() {
			p.add("nodeIP", "must not be the unspecified address %s", out.NodeIP)
		}
	}
	if c.API.Port < 1 || c.API.Port > 65535 {
		p.add("api.port", "must be between 1 and 65535, not %d", c.API.Port)
	}
}

func (c Config) checkNetwork(p *problems, out *Parsed) {
	n := c.Network
	out.ClusterCIDR = parseCIDRv4(p, "network.clusterCIDR", n.ClusterCIDR)
	out.PodCIDR = podCIDR(p, n.PodCIDR, out.ClusterCIDR)
	out.ServiceCIDR = parseCIDRv4(p, "network.serviceCIDR", n.ServiceCIDR)
	out.ClusterDNS = parseIPv4(p, "network.clusterDNS", n.ClusterDNS)
	checkServiceCIDRSize(p, out.ServiceCIDR)
	checkOverlaps(p, *out)
	checkClusterDNS(p, out.ServiceCIDR, out.ClusterDNS)
	if r, err := ParsePortRange(n.NodePortRange); err != nil {
		p.add("network.nodePortRange", "%v", err)
	} else {
		out.NodePortRange = r
	}
	for _, msg := range validation.IsDNS1123Subdomain(n.ClusterDomain) {
		p.add("network.clusterDomain", "invalid value %q: %s", n.ClusterDomain, msg)
	}
	out.LoadBalancerPools = checkPools(p, n.LoadBalancerPools, *out)
	checkInterfaceName(p, "network.bridge", n.Bridge)
	if n.DNSPort < 1 || n.DNSPort > 65535 {
		p.add("network.dnsPort", "must be between 1 and 65535, not %d", n.DNSPort)
	}
	if !filepath.IsAbs(n.DNSResolvConf) {
		p.add("network.dnsResolvConf", "%q is not an absolute path", n.DNSResolvConf)
	}
	if !nftIdentifier.MatchString(n.NFTablesTable) {
		p.add("network.nftablesTable", "invalid table name %q: must start with a letter and hold only letters, digits, '_' and '-' (at most 64)", n.NFTablesTable)
	}
}

// podCIDR is the configured node range, or the first /24 of the cluster range (the whole
// cluster range when it is already /24 or smaller). It must lie inside the cluster range.
func podCIDR(p *problems, s string, cluster netip.Prefix) netip.Prefix {
	if s == "" {
		if !cluster.IsValid() {
			return netip.Prefix{}
		}
		bits := max(cluster.Bits(), 24)
		return netip.PrefixFrom(cluster.Addr(), bits).Masked()
	}
	pod := parseCIDRv4(p, "network.podCIDR", s)
	if pod.IsValid() && cluster.IsValid() && (pod.Bits() < cluster.Bits() || !cluster.Contains(pod.Addr())) {
		p.add("network.podCIDR", "%s is not inside network.clusterCIDR %s", pod, cluster)
	}
	return pod
}

var nftIdentifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

func parseIPv4(p *problems, field, s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.add(field, "invalid IP address %q", s)
	case !a.Is4():
		p.add(field, "must be an IPv4 address, not %q", s)
	default:
		return a
	}
	return netip.Addr{}
}

func parseCIDRv4(p *problems, field, s string) netip.Prefix {
	pfx, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		p.add(field, "invalid CIDR %q", s)
	case !pfx.Addr().Is4():
		p.add(field, "must be an IPv4 CIDR, not %q", s)
	case pfx.Bits() > 30:
		p.add(field, "%q is too small: the prefix length must be at most 30", s)
	default:
		// Like net.ParseCIDR, host bits are dropped: 10.96.1.0/12 means 10.96.0.0/12.
		return pfx.Masked()
	}
	return netip.Prefix{}
}

// checkServiceCIDRSize applies kube-apiserver's limit: a bitmap allocator over more than 2^20
// addresses is refused.
func checkServiceCIDRSize(p *problems, svc netip.Prefix) {
	if svc.IsValid() && svc.Bits() < 12 {
		p.add("network.serviceCIDR", "%s is too large: the prefix length must be at least 12", svc)
	}
}

func checkOverlaps(p *problems, v Parsed) {
	if v.ClusterCIDR.IsValid() && v.ServiceCIDR.IsValid() && v.ClusterCIDR.Overlaps(v.ServiceCIDR) {
		p.add("network.serviceCIDR", "%s overlaps network.clusterCIDR %s", v.ServiceCIDR, v.ClusterCIDR)
	}
	for _, c := range []struct {
		field string
		pfx   netip.Prefix
	}{{"network.clusterCIDR", v.ClusterCIDR}, {"network.serviceCIDR", v.ServiceCIDR}} {
		if v.NodeIP.IsValid() && c.pfx.IsValid() && c.pfx.Contains(v.NodeIP) {
			p.add("nodeIP", "%s lies inside %s %s", v.NodeIP, c.field, c.pfx)
		}
	}
}

// checkClusterDNS keeps the DNS ClusterIP allocatable: inside the service CIDR, neither its
// network nor broadcast address, and not the first address, which the kubernetes service holds.
func checkClusterDNS(p *problems, svc netip.Prefix, dns netip.Addr) {
	if !svc.IsValid() || !dns.IsValid() {
		return
	}
	first := svc.Addr().Next()
	switch {
	case !svc.Contains(dns):
		p.add("network.clusterDNS", "%s is not inside network.serviceCIDR %s", dns, svc)
	case dns == svc.Addr() || dns == lastAddr(svc):
		p.add("network.clusterDNS", "%s is the network or broadcast address of network.serviceCIDR %s", dns, svc)
	case dns == first:
		p.add("network.clusterDNS", "%s is reserved for the kubernetes service", dns)
	}
}

func lastAddr(pfx netip.Prefix) netip.Addr {
	b := pfx.Masked().Addr().As4()
	host := uint32(1)<<(32-pfx.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// checkInterfaceName applies the kernel's rules for link names (dev_valid_name).
func checkInterfaceName(p *problems, field, name string) {
	switch {
	case name == "" || name == "." || name == "..":
		p.add(field, "invalid interface name %q", name)
	case len(name) > 15:
		p.add(field, "interface name %q is longer than 15 characters", name)
	case strings.ContainsAny(name, "/: \t\n"):
		p.add(field, "interface name %q must not contain '/', ':' or whitespace", name)
	}
}

func (c Config) checkRuntime(p *problems) {
	switch c.Runtime.Executor {
	case ExecutorBuiltin, ExecutorRunc, ExecutorCrun:
	default:
		p.add("runtime.executor", "unsupported value %q: must be one of builtin, runc, crun", c.Runtime.Executor)
	}
}

func (c Config) checkLog(p *problems, out *Parsed) {
	if lvl, ok := logLevels[c.Log.Level]; ok {
		out.LogLevel = lvl
	} else {
		p.add("log.level", "unsupported value %q: must be one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "unsupported value %q: must be one of text, json", c.Log.Format)
	}
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// AddressRange is the inclusive range of addresses First…Last, both of one family.
type AddressRange struct {
	First, Last netip.Addr
}

// String renders the range as "FIRST-LAST".
func (r AddressRange) String() string { return r.First.String() + "-" + r.Last.String() }

// Contains reports whether a lies in the range.
func (r AddressRange) Contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// Overlaps reports whether r and o share an address.
func (r AddressRange) Overlaps(o AddressRange) bool {
	return r.First.BitLen() == o.First.BitLen() && r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// RangeOfPrefix is the range of every address of pfx, its network and broadcast addresses included.
func RangeOfPrefix(pfx netip.Prefix) AddressRange {
	pfx = pfx.Masked()
	b := pfx.Addr().As16()
	hostBits := pfx.Addr().BitLen() - pfx.Bits()
	// The host bits are the last hostBits of the 16-byte form, for IPv4 too (As16 maps it).
	for i := 15; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		b[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	last := netip.AddrFrom16(b)
	if pfx.Addr().Is4() {
		last = last.Unmap()
	}
	return AddressRange{First: pfx.Addr(), Last: last}
}

// ParseAddressRange parses a CIDR ("192.168.100.0/28", host bits dropped) or an inclusive range
// of one family ("192.168.100.240-192.168.100.250").
func ParseAddressRange(s string) (AddressRange, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return AddressRange{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return RangeOfPrefix(pfx.Masked()), nil
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		return AddressRange{}, fmt.Errorf("invalid pool %q: must be a CIDR (192.168.100.0/28) or a range (192.168.100.240-192.168.100.250)", s)
	}
	first, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	last, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	switch {
	case err1 != nil || err2 != nil || first.Zone() != "" || last.Zone() != "":
		return AddressRange{}, fmt.Errorf("invalid range %q: both ends must be IP addresses", s)
	case first.Is4In6() || last.Is4In6() || first.BitLen() != last.BitLen():
		return AddressRange{}, fmt.Errorf("invalid range %q: both ends must be of one family", s)
	case last.Less(first):
		return AddressRange{}, fmt.Errorf("invalid range %q: end is before start", s)
	}
	return AddressRange{First: first, Last: last}, nil
}

// reservedRanges hold addresses a node must never take over as a LoadBalancer IP.
var reservedRanges = []struct {
	what string
	r    AddressRange
}{
	{"unspecified", RangeOfPrefix(netip.MustParsePrefix("0.0.0.0/32"))},
	{"loopback", RangeOfPrefix(netip.MustParsePrefix("127.0.0.0/8"))},
	{"link-local", RangeOfPrefix(netip.MustParsePrefix("169.254.0.0/16"))},
	{"multicast", RangeOfPrefix(netip.MustParsePrefix("224.0.0.0/4"))},
	{"broadcast", RangeOfPrefix(netip.MustParsePrefix("255.255.255.255/32"))},
	{"unspecified", RangeOfPrefix(netip.MustParsePrefix("::/128"))},
	{"loopback", RangeOfPrefix(netip.MustParsePrefix("::1/128"))},
	{"link-local", RangeOfPrefix(netip.MustParsePrefix("fe80::/10"))},
	{"multicast", RangeOfPrefix(netip.MustParsePrefix("ff00::/8"))},
}

// checkPools parses the LoadBalancer pools and rejects any that could take an address the node
// already uses for something else: pods, Services, the node itself, or another pool.
func checkPools(p *problems, pools []string, v Parsed) []AddressRange {
	var out []AddressRange
	before := len(*p)
	for i, s := range pools {
		field := fmt.Sprintf("network.loadBalancerPools[%d]", i)
		r, err := ParseAddressRange(s)
		if err != nil {
			p.add(field, "%v", err)
			continue
		}
		if checkPool(p, field, s, r, v) {
			for j, prev := range out {
				if prev.Overlaps(r) {
					p.add(field, "%s overlaps network.loadBalancerPools[%d] %s", s, j, pools[j])
				}
			}
		}
		out = append(out, r)
	}
	if len(*p) > before {
		return nil
	}
	return out
}

// checkPool reports a pool overlapping what podnet or the kernel already owns; false if it did.
func checkPool(p *problems, field, text string, r AddressRange, v Parsed) bool {
	ok := true
	for _, c := range []struct {
		field string
		pfx   netip.Prefix
	}{{"network.clusterCIDR", v.ClusterCIDR}, {"network.serviceCIDR", v.ServiceCIDR}} {
		if c.pfx.IsValid() && r.Overlaps(RangeOfPrefix(c.pfx)) {
			p.add(field, "%s overlaps %s %s", text, c.field, c.pfx)
			ok = false
		}
	}
	for _, res := range reservedRanges {
		if r.Overlaps(res.r) {
			p.add(field, "%s includes %s addresses", text, res.what)
			ok = false
		}
	}
	if v.NodeIP.IsValid() && r.Contains(v.NodeIP) {
		p.add(field, "%s includes the node IP %s", text, v.NodeIP)
		ok = false
	}
	return ok
}
