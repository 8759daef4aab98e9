package config

import (
	"fmt"
	"github.com/podnet/podnet/internal/roottest"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkSetup describes one veth link (the kernel may lack the dummy driver) to create in the test's network namespace.
type linkSetup struct {
	name  string
	addrs []string // CIDR, optionally followed by " link" for link scope
	gw    string   // default route gateway through this link, if any
	prio  int
}

func TestNetlinkDetector(t *testing.T) {
	roottest.NeedRoot(t)
	tests := []struct {
		name  string
		links []linkSetup
		want  string
	}{
		{name: "first global address of the default route interface", links: []linkSetup{
			{name: "other0", addrs: []string{"198.51.100.5/24"}},
			{name: "uplink0", addrs: []string{"169.254.9.9/16 link", "192.0.2.10/24", "192.0.2.11/24"}, gw: "192.0.2.1"},
		}, want: "192.0.2.10"},
		{name: "lowest metric default route wins", links: []linkSetup{
			{name: "backup0", addrs: []string{"203.0.113.20/24"}, gw: "203.0.113.1", prio: 200},
			{name: "main0", addrs: []string{"198.51.100.30/24"}, gw: "198.51.100.1", prio: 100},
		}, want: "198.51.100.30"},
		{name: "no default route", links: []linkSetup{
			{name: "lan0", addrs: []string{"192.0.2.10/24"}},
		}, want: "error: no IPv4 default route"},
		{name: "default route interface without global address", links: []linkSetup{
			{name: "ll0", addrs: []string{"169.254.1.1/16 link"}, gw: "169.254.0.1"},
		}, want: "error: interface ll0 of the default route has no global IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inNewNetns(t, func() string {
				for _, l := range tt.links {
					if err := addVeth(l); err != nil {
						return "setup: " + err.Error()
					}
				}
				ip, err := NetlinkDetector{}.NodeIP()
				if err != nil {
					return "error: " + err.Error()
				}
				return ip.String()
			})
			if got != tt.want {
				t.Errorf("NodeIP() = %q, want %q", got, tt.want)
			}
		})
	}
}

// inNewNetns runs fn on a locked OS thread moved into a fresh network namespace, because a
// namespace belongs to a thread and the Go scheduler would otherwise move the goroutine (see
// containernetworking/plugins pkg/ns). The thread is returned to the original namespace after;
// if that fails it stays locked, so Go discards it instead of reusing it.
func inNewNetns(t *testing.T, fn func() string) string {
	t.Helper()
	result := make(chan string, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
		if err != nil {
			result <- "setup: " + err.Error()
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			result <- "setup: unshare: " + err.Error()
			return
		}
		out := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			result <- "teardown: setns: " + err.Error()
			return
		}
		runtime.UnlockOSThread()
		result <- out
	}()
	return <-result
}

// addVeth makes a veth pair inside the test's namespace; only the end named l.name is configured.
func addVeth(l linkSetup) error {
	link := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.name}, PeerName: l.name + "p"}
	if err := netlink.LinkAdd(link); err != nil {
		return fmt.Errorf("add %s: %w", l.name, err)
	}
	for _, name := range []string{l.name, l.name + "p"} {
		if err := setUp(name); err != nil {
			return err
		}
	}
	for _, a := range l.addrs {
		if err := addAddr(link, a); err != nil {
			return err
		}
	}
	if l.gw == "" {
		return nil
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(l.gw), Priority: l.prio,
		Flags: int(netlink.FLAG_ONLINK)}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("default route via %s: %w", l.gw, err)
	}
	return nil
}

func addAddr(link netlink.Link, spec string) error {
	cidr, scope, _ := strings.Cut(spec, " ")
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("address %q: %w", cidr, err)
	}
	if scope == "link" {
		addr.Scope = unix.RT_SCOPE_LINK
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", cidr, link.Attrs().Name, err)
	}
	return nil
}

func setUp(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("up %s: %w", name, err)
	}
	return nil
}
