package allocator

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	netutils "k8s.io/utils/net"
)

// maxIPv6RangeSize caps an IPv6 range the way upstream caps its bitmap, since a /64 cannot be one.
const maxIPv6RangeSize = 1 << 16

// maxHostBits is upstream's limit on the service CIDR: /12 for IPv4, /108 for IPv6.
const maxHostBits = 20

// ipRange maps the usable addresses of the service CIDR to bitmap offsets: offset 0 is the address
// after the network address.
type ipRange struct {
	prefix         netip.Prefix
	baseHi, baseLo uint64
	size           int
	lowBand        int
}

func newIPRange(prefix netip.Prefix) (*ipRange, error) {
	if !prefix.IsValid() {
		return nil, fmt.Errorf("service CIDR %q is not a valid prefix", prefix)
	}
	prefix = prefix.Masked()
	hostBits := prefix.Addr().BitLen() - prefix.Bits()
	if hostBits > maxHostBits {
		// kube-apiserver refuses the same: a bigger range would not fit its bitmap either.
		return nil, fmt.Errorf("service CIDR %s is too large: the mask must be >= %d", prefix, prefix.Addr().BitLen()-maxHostBits)
	}
	total := uint64(1) << hostBits
	size := int(total) - 2 // network and broadcast
	if prefix.Addr().Is6() {
		size = int(min(total, maxIPv6RangeSize)) - 1 // network only: IPv6 has no broadcast
	}
	if size <= 0 {
		return nil, fmt.Errorf("service CIDR %s has no usable addresses", prefix)
	}
	hi, lo := split128(prefix.Addr())
	return &ipRange{
		prefix:  prefix,
		baseHi:  hi,
		baseLo:  lo + 1,
		size:    size,
		lowBand: bandOffset(int(total), 16, 256, 16),
	}, nil
}

func split128(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func (r *ipRange) family() corev1.IPFamily {
	return familyOfAddr(r.prefix.Addr())
}

func familyOfAddr(a netip.Addr) corev1.IPFamily {
	if a.Unmap().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// offset reports where ip sits in the bitmap, or false when it is not a usable address of the range.
func (r *ipRange) offset(ip netip.Addr) (int, bool) {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.Zone() != "" || ip.Is4() != r.prefix.Addr().Is4() {
		return 0, false
	}
	hi, lo := split128(ip)
	if hi != r.baseHi || lo < r.baseLo || lo-r.baseLo >= uint64(r.size) {
		return 0, false
	}
	return int(lo - r.baseLo), true
}

func (r *ipRange) addr(off int) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.baseHi)
	binary.BigEndian.PutUint64(b[8:], r.baseLo+uint64(off))
	a := netip.AddrFrom16(b)
	if r.prefix.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

// parseIP accepts what Kubernetes validation accepts, including IPv4 with leading zeros.
func parseIP(s string) (netip.Addr, bool) {
	ip := netutils.ParseIPSloppy(s)
	if ip == nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
