package allocator

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is a contiguous range of ports, [Base, Base+Size).
type PortRange struct {
	Base int
	Size int
}

// DefaultNodePortRange is Kubernetes' default, 30000-32767.
var DefaultNodePortRange = PortRange{Base: 30000, Size: 2768}

// String prints the range as kube-apiserver's --service-node-port-range does, "30000-32767".
func (r PortRange) String() string {
	if r.Size == 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1)
}

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port int) bool {
	return port >= r.Base && port < r.Base+r.Size
}

// ParsePortRange reads "30000-32767" or a single port "30080".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	base, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
	}
	last, err := parsePort(hi)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
	}
	if last < base {
		return PortRange{}, fmt.Errorf("port range %q: end is below start", s)
	}
	return PortRange{Base: base, Size: last - base + 1}, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid port %q: %w", s, err)
	}
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %d is outside 1-65535", p)
	}
	return p, nil
}

func (r PortRange) validate() error {
	if r.Size <= 0 || r.Base < 1 || r.Base+r.Size-1 > 65535 {
		return fmt.Errorf("NodePort range %s is not within 1-65535", r)
	}
	return nil
}

// lowBand is upstream's min(max(16, size/32), 128) ports kept for static requests.
func (r PortRange) lowBand() int {
	return bandOffset(r.Size, 16, 128, 32)
}
