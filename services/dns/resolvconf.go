package dns

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// readResolvConf returns the nameservers of a resolv.conf file, port 53.
func readResolvConf(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read resolv.conf: %w", err)
	}
	defer f.Close()
	var out []netip.AddrPort
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(strings.SplitN(fields[1], "%", 2)[0])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip.Unmap(), 53))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read resolv.conf %s: %w", path, err)
	}
	return out, nil
}

// upstreamsFrom reads path; when it names only loopback stubs (systemd-resolved's 127.0.0.53),
// the real upstreams come from systemdPath instead.
func upstreamsFrom(path, systemdPath string) ([]netip.AddrPort, error) {
	ups, err := readResolvConf(path)
	if err != nil {
		return nil, err
	}
	if len(ups) == 0 || !allLoopback(ups) {
		return ups, nil
	}
	real, err := readResolvConf(systemdPath)
	if err != nil || len(real) == 0 || allLoopback(real) {
		return nil, fmt.Errorf("%s names only the local stub %v and %s has no upstreams: %w", path, ups[0].Addr(), systemdPath, errNoUpstreams)
	}
	return real, nil
}

func allLoopback(ups []netip.AddrPort) bool {
	for _, u := range ups {
		if !u.Addr().IsLoopback() {
			return false
		}
	}
	return true
}

// withoutSelf drops upstreams that are this server: one of its listen addresses (an
// unspecified listen address covers every local IP on its port) or the DNS Service IP.
func withoutSelf(ups []netip.AddrPort, listen []netip.AddrPort, local []netip.Addr, serviceIP netip.Addr) []netip.AddrPort {
	var out []netip.AddrPort
	for _, u := range ups {
		if isSelf(u, listen, local, serviceIP) {
			continue
		}
		out = append(out, u)
	}
	return out
}

func isSelf(u netip.AddrPort, listen []netip.AddrPort, local []netip.Addr, serviceIP netip.Addr) bool {
	if serviceIP.IsValid() && u.Addr() == serviceIP.Unmap() {
		return true
	}
	for _, l := range listen {
		if l.Port() != u.Port() {
			continue
		}
		if l.Addr().Unmap() == u.Addr() {
			return true
		}
		if l.Addr().IsUnspecified() && (u.Addr().IsLoopback() || contains(local, u.Addr())) {
			return true
		}
	}
	return false
}

func contains(l []netip.Addr, a netip.Addr) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}
