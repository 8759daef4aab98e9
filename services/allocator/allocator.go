package allocator

import (
	"fmt"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Config says which ranges the node hands out. Zero fields take Kubernetes' defaults.
type Config struct {
	// ServiceCIDR is where ClusterIPs come from; default 10.96.0.0/12. At most a /12 (IPv4) or a
	// /108 (IPv6), as in kube-apiserver.
	ServiceCIDR netip.Prefix
	// NodePortRange is where NodePorts and healthCheckNodePorts come from; default 30000-32767.
	NodePortRange PortRange
	// DNSServiceIP is kept for kube-dns: only a Service asking for it gets it. Default: the tenth
	// address of ServiceCIDR (10.96.0.10).
	DNSServiceIP netip.Addr
}

// DefaultServiceCIDR is Kubernetes' default service range.
var DefaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")

// Allocator owns the ClusterIPs and NodePorts of one node. Safe for concurrent use.
type Allocator struct {
	ips   *ipRange
	ports PortRange

	mu        sync.Mutex
	ipPool    *pool
	portPool  *pool
	dnsOffset int
}

// New builds an empty Allocator; call Repair with the stored Services before serving requests.
func New(cfg Config) (*Allocator, error) {
	cfg = withDefaults(cfg)
	ips, err := newIPRange(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("allocator config: %w", err)
	}
	if err := cfg.NodePortRange.validate(); err != nil {
		return nil, fmt.Errorf("allocator config: %w", err)
	}
	dnsOffset, ok := ips.offset(cfg.DNSServiceIP)
	if !ok {
		return nil, fmt.Errorf("allocator config: DNS service IP %s is not a usable address of %s", cfg.DNSServiceIP, ips.prefix)
	}
	a := &Allocator{ips: ips, ports: cfg.NodePortRange, dnsOffset: dnsOffset}
	a.ipPool, a.portPool = a.emptyPools()
	return a, nil
}

func withDefaults(cfg Config) Config {
	if !cfg.ServiceCIDR.IsValid() {
		cfg.ServiceCIDR = DefaultServiceCIDR
	}
	if cfg.NodePortRange == (PortRange{}) {
		cfg.NodePortRange = DefaultNodePortRange
	}
	if !cfg.DNSServiceIP.IsValid() {
		cfg.DNSServiceIP = nthAddr(cfg.ServiceCIDR.Masked().Addr(), 10)
	}
	return cfg
}

func nthAddr(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

// emptyPools keeps offset 0 (the `kubernetes` service) and the DNS address out of dynamic reach.
func (a *Allocator) emptyPools() (ips, ports *pool) {
	ips = newPool(a.ips.size, a.ips.lowBand, 0, a.dnsOffset)
	ports = newPool(a.ports.Size, a.ports.lowBand())
	return ips, ports
}

// Free reports how many addresses and ports are not in use (the two kept addresses count as free).
func (a *Allocator) Free() (ips, ports int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ipPool.free(), a.portPool.free()
}

// The helpers below run with a.mu held.

func (a *Allocator) reserveIP(ip string) (int, error) {
	addr, parsed := parseIP(ip)
	off, ok := a.ips.offset(addr)
	if !parsed || !ok {
		return 0, &ipNotInRangeError{ip: ip, validRange: a.ips.prefix.String()}
	}
	if !a.ipPool.allocate(off) {
		return 0, errIPAllocated
	}
	return off, nil
}

func (a *Allocator) reserveNextIP() (int, error) {
	off, ok := a.ipPool.allocateNext()
	if !ok {
		return 0, ErrFull
	}
	return off, nil
}

func (a *Allocator) reservePort(port int) error {
	if !a.ports.Contains(port) {
		return &portNotInRangeError{validPorts: a.ports.String()}
	}
	if !a.portPool.allocate(port - a.ports.Base) {
		return errPortAllocated
	}
	return nil
}

func (a *Allocator) reserveNextPort() (int, error) {
	off, ok := a.portPool.allocateNext()
	if !ok {
		return 0, ErrFull
	}
	return a.ports.Base + off, nil
}

// ipOffset finds a stored ClusterIP's offset; false for "None", garbage or foreign addresses, which
// own nothing here.
func (a *Allocator) ipOffset(ip string) (int, bool) {
	addr, ok := parseIP(ip)
	if !ok {
		return 0, false
	}
	return a.ips.offset(addr)
}

func (a *Allocator) family() corev1.IPFamily {
	return a.ips.family()
}
