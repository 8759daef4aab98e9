package loadbalancer

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// Range is the inclusive range of addresses First…Last, both of one family; a CIDR pool is the
// range of all its addresses. Its fields are those of config.AddressRange, so a config value
// converts with Range(r).
type Range struct {
	First, Last netip.Addr
}

// String renders the range as "FIRST-LAST".
func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// Contains reports whether a lies in the range.
func (r Range) Contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

func (r Range) valid() bool {
	return r.First.IsValid() && r.Last.IsValid() && r.First.BitLen() == r.Last.BitLen() && !r.Last.Less(r.First)
}

func familyOf(a netip.Addr) corev1.IPFamily {
	if a.Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

func (r Range) family() corev1.IPFamily { return familyOf(r.First) }
