package netplug

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/vishvananda/netlink"
)

// Firewall programs the nftables rules netplug needs, for every family of
// the pod ranges; NftFirewall implements it on netplug/nft.
type Firewall interface {
	EnsureBase(ctx context.Context, podCIDRs []netip.Prefix) error
	AddPortMappings(ctx context.Context, containerID string, podIPs []netip.Addr, pms []PortMapping) error
	RemovePortMappings(ctx context.Context, containerID string) error
	GC(ctx context.Context, valid map[string]bool) error
}

// Plugin implements the CNI verbs. Its fields are the seams to the OS that
// are not netlink: tests may replace them.
type Plugin struct {
	// NewFirewall returns the rules backend for a configuration; nil (or a
	// nil Firewall) means no masquerade and no hostPorts.
	NewFirewall func(cfg *Config) (Firewall, error)
	// Sysctl sets a sysctl in the plugin's (the node's) namespace.
	Sysctl func(name, value string) error
	// ReadSysctl reads one there (nil: from /proc/sys).
	ReadSysctl func(name string) (string, error)
	// Now is the clock of IPAM creation times and of GC's grace period
	// (nil: time.Now).
	Now func() time.Time
	// Timeout bounds the nftables work of one call.
	Timeout time.Duration
}

// SupportedVersions are the CNI spec versions netplug speaks.
var SupportedVersions = version.PluginSupports("0.4.0", "1.0.0", "1.1.0")

// Funcs returns the plugin's verbs for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Check: p.Check, Del: p.Del, GC: p.GC, Status: p.Status}
}

// brNetfilterSysctl exists only with the br_netfilter module loaded.
const brNetfilterSysctl = "net.bridge.bridge-nf-call-iptables"

func errNoBrNetfilter(err error) error {
	return types.NewError(types.ErrPluginNotAvailable,
		"the br_netfilter kernel module is not loaded (load it with: modprobe br_netfilter)", err.Error())
}

// nodeSysctls turns on forwarding for the families of the pod ranges and
// makes bridged traffic pass through nftables, so that Service DNAT works
// between pods on the same bridge. The bridge-nf ones exist only with the
// br_netfilter module loaded, which a plugin must not load itself (it changes
// every bridge on the host): its absence is reported as the plugin not being
// available, with what to do.
func (p *Plugin) nodeSysctls(cfg *Config) error {
	var set [][2]string
	if cfg.HasIPv4() {
		set = append(set, [2]string{"net.ipv4.ip_forward", "1"})
	}
	if cfg.HasIPv6() {
		set = append(set, [2]string{"net.ipv6.conf.all.forwarding", "1"})
	}
	set = append(set, [2]string{brNetfilterSysctl, "1"})
	if cfg.HasIPv6() {
		set = append(set, [2]string{"net.bridge.bridge-nf-call-ip6tables", "1"})
	}
	for _, s := range set {
		err := p.sysctl(s[0], s[1])
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(s[0], "net.bridge."):
			return errNoBrNetfilter(err)
		default:
			return internal("cannot set node sysctls", err)
		}
	}
	return nil
}

func (p *Plugin) readSysctl(name string) (string, error) {
	if p.ReadSysctl != nil {
		return p.ReadSysctl(name)
	}
	v, err := sysctl.Sysctl(name)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", name, err)
	}
	return v, nil
}

func (p *Plugin) openStore(cfg *Config) (*Store, error) {
	s, err := OpenStore(cfg.DataDir, cfg.Name)
	if err != nil {
		return nil, err
	}
	s.Now = p.Now
	return s, nil
}

func (p *Plugin) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Plugin) sysctl(name, value string) error {
	if p.Sysctl != nil {
		return p.Sysctl(name, value)
	}
	if _, err := sysctl.Sysctl(name, value); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

func (p *Plugin) firewall(cfg *Config) (Firewall, error) {
	if p.NewFirewall == nil {
		return nil, nil
	}
	fw, err := p.NewFirewall(cfg)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return fw, nil
}

func (p *Plugin) ctx() (context.Context, context.CancelFunc) {
	t := p.Timeout
	if t == 0 {
		t = 30 * time.Second
	}
	return context.WithTimeout(context.Background(), t)
}

func internal(msg string, err error) error {
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	return types.NewError(types.ErrInternal, msg, err.Error())
}

// Add is CNI ADD: bridge, veth pair, addresses, routes, sysctls, rules.
func (p *Plugin) Add(args *skel.CmdArgs) (retErr error) {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if args.IfName == "" || len(args.IfName) > 15 {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "bad CNI_IFNAME", fmt.Sprintf("%q", args.IfName))
	}
	netns, err := ns.GetNS(args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, "cannot open netns", err.Error())
	}
	defer netns.Close()

	if err := p.nodeSysctls(cfg); err != nil {
		return err
	}
	pms := cfg.RuntimeConfig.PortMappings
	// nftables work (separate nft processes) runs alongside the netlink work.
	type fwResult struct {
		fw  Firewall
		err error
	}
	var fwCh chan fwResult
	var fwRes *fwResult
	waitFW := func() fwResult {
		if fwRes == nil {
			r := <-fwCh
			fwRes = &r
		}
		return *fwRes
	}
	if cfg.Masquerade() || len(pms) > 0 {
		fwCh = make(chan fwResult, 1)
		go func() {
			fw, err := p.firewall(cfg)
			if err == nil && fw != nil && cfg.Masquerade() {
				ctx, cancel := p.ctx()
				defer cancel()
				err = fw.EnsureBase(ctx, cfg.Prefixes())
			}
			fwCh <- fwResult{fw, err}
		}()
		// Never return before it finished: its nft child must not outlive us.
		defer waitFW()
	}
	mtu := cfg.MTU
	if mtu == 0 {
		if mtu, err = uplinkMTU(); err != nil {
			return internal("cannot find the uplink MTU", err)
		}
	}
	br, err := ensureBridge(cfg.Bridge, cfg.IPRanges, mtu)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot make the bridge", err.Error())
	}
	if len(pms) > 0 && cfg.HasIPv4() {
		// What portmap does: 127.0.0.0/8 may cross to the bridge, so that
		// 127.0.0.1:hostPort from the node reaches the pod (masqueraded).
		if err := p.sysctl("net/ipv4/conf/"+cfg.Bridge+"/route_localnet", "1"); err != nil {
			return internal("cannot set route_localnet on the bridge", err)
		}
	}

	store, err := p.openStore(cfg)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
	owner := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	podIPs, err := store.Allocate(cfg.IPRanges, owner)
	if err != nil {
		if errors.Is(err, ErrRangeFull) {
			return types.NewError(types.ErrTryAgainLater, "no IP addresses available", err.Error())
		}
		return internal("IP allocation failed", err)
	}
	hostName := HostVethName(args.ContainerID, args.IfName)
	// Undo everything on failure, newest first.
	var undo []func()
	defer func() {
		if retErr != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	undo = append(undo, func() { _ = store.Release(owner) })

	// A retried ADD may find the previous attempt's veth.
	if err := deleteLink(hostName); err != nil {
		return internal("cannot remove a stale veth", err)
	}
	result := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: br.Attrs().Name, Mac: br.Attrs().HardwareAddr.String()}},
		DNS:        cfg.DNS,
	}
	hostNS, err := ns.GetCurrentNS()
	if err != nil {
		return internal("cannot open the node netns", err)
	}
	defer hostNS.Close()
	var hostIf, contIf net.Interface
	err = netns.Do(func(ns.NetNS) error {
		hostIf, contIf, err = ip.SetupVethWithName(args.IfName, hostName, mtu, "", hostNS)
		return err
	})
	if err != nil {
		return internal("cannot create the veth pair", err)
	}
	undo = append(undo, func() { _ = deleteLink(hostName) })
	podIf := &current.Interface{Name: contIf.Name, Mac: contIf.HardwareAddr.String(), Sandbox: args.Netns}
	if ok, _ := version.GreaterThanOrEqualTo(cfg.CNIVersion, "1.1.0"); ok {
		podIf.Mtu = contIf.MTU // a field of spec 1.1.0
	}
	result.Interfaces = append(result.Interfaces,
		&current.Interface{Name: hostIf.Name, Mac: hostIf.HardwareAddr.String()}, podIf)
	idx := 2
	for i, r := range cfg.IPRanges {
		bits := r.Prefix.Addr().BitLen()
		result.IPs = append(result.IPs, &current.IPConfig{
			Interface: &idx,
			Address:   net.IPNet{IP: podIPs[i].AsSlice(), Mask: net.CIDRMask(r.Prefix.Bits(), bits)},
			Gateway:   r.Gateway.AsSlice(),
		})
		result.Routes = append(result.Routes, &types.Route{
			Dst: net.IPNet{IP: make(net.IP, bits/8), Mask: net.CIDRMask(0, bits)},
			GW:  r.Gateway.AsSlice(),
		})
	}

	hostLink, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return internal("cannot find the host veth", err)
	}
	if err := netlink.LinkSetMaster(hostLink, br); err != nil {
		return internal("cannot attach the veth to the bridge", err)
	}
	if cfg.Hairpin() {
		if err := netlink.LinkSetHairpin(hostLink, true); err != nil {
			return internal("cannot set hairpin mode", err)
		}
	}
	if err := netns.Do(func(ns.NetNS) error {
		if cfg.HasIPv6() {
			// The address is ours by IPAM: no duplicate detection, usable at once.
			if _, err := sysctl.Sysctl("net/ipv6/conf/"+args.IfName+"/accept_dad", "0"); err != nil {
				return fmt.Errorf("turn off DAD on %s: %w", args.IfName, err)
			}
		}
		return ipam.ConfigureIface(args.IfName, result)
	}); err != nil {
		return internal("cannot configure the pod interface", err)
	}

	if fwCh != nil {
		r := waitFW()
		fw, err := r.fw, r.err
		if err != nil {
			return internal("cannot set up masquerade", err)
		}
		if fw != nil && len(pms) > 0 {
			if err := store.MarkHostPorts(args.ContainerID); err != nil {
				return internal("cannot record port mappings", err)
			}
			ctx, cancel := p.ctx()
			defer cancel()
			undo = append(undo, func() { // also what one family's table got when the other's failed
				ctx, cancel := p.ctx()
				defer cancel()
				_ = fw.RemovePortMappings(ctx, args.ContainerID)
			})
			if err := fw.AddPortMappings(ctx, args.ContainerID, podIPs, pms); err != nil {
				return internal("cannot add port mappings", err)
			}
		}
	}
	return types.PrintResult(result, cfg.CNIVersion)
}

// Del is CNI DEL; everything already gone is success.
func (p *Plugin) Del(args *skel.CmdArgs) error {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	var errs []error
	store, err := p.openStore(cfg)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
	// Rules exist when the runtime passes portMappings or ADD marked them.
	ports := len(cfg.RuntimeConfig.PortMappings) > 0
	if !ports {
		if ports, err = store.HasHostPorts(args.ContainerID); err != nil {
			errs = append(errs, err)
		}
	}
	if !ports {
		// nothing to remove
	} else if fw, err := p.firewall(cfg); err != nil {
		errs = append(errs, err)
	} else if fw != nil {
		ctx, cancel := p.ctx()
		defer cancel()
		if err := fw.RemovePortMappings(ctx, args.ContainerID); err != nil {
			errs = append(errs, fmt.Errorf("remove port mappings: %w", err))
		}
	}
	// Deleting the host side removes the pair, wherever the netns is.
	if err := deleteLink(HostVethName(args.ContainerID, args.IfName)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 { // keep the hostPort mark until the rules are gone
		if err := store.Release(Owner{ContainerID: args.ContainerID, IfName: args.IfName}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return internal("DEL failed", err)
	}
	return nil
}

// Check is CNI CHECK: the interface, address and routes of prevResult are
// present in the pod, the host veth is on the bridge, the IP is reserved.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if cfg.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs a prevResult", "")
	}
	prev, err := current.NewResultFromResult(cfg.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "cannot convert prevResult", err.Error())
	}
	store, err := p.openStore(cfg)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
	owner := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	addrs, err := store.Addrs(owner)
	if err != nil {
		return internal("cannot read the IPAM store", err)
	}
	reserved := map[netip.Addr]bool{}
	for _, a := range addrs {
		reserved[a] = true
	}
	if len(addrs) == 0 {
		return types.NewError(types.ErrInternal, "no IP reserved", fmt.Sprintf("%s/%s", owner.ContainerID, owner.IfName))
	}
	hostName := HostVethName(args.ContainerID, args.IfName)
	hostLink, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return internal("host veth missing", err)
	}
	br, err := netlinksafe.LinkByName(cfg.Bridge)
	if err != nil {
		return internal("bridge missing", err)
	}
	if hostLink.Attrs().MasterIndex != br.Attrs().Index {
		return types.NewError(types.ErrInternal, "host veth not on the bridge", hostName)
	}
	netns, err := ns.GetNS(args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, "cannot open netns", err.Error())
	}
	defer netns.Close()
	err = netns.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(args.IfName)
		if err != nil {
			return fmt.Errorf("interface %s: %w", args.IfName, err)
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list addresses: %w", err)
		}
		have := map[string]bool{}
		for _, a := range addrs {
			have[a.IPNet.String()] = true
		}
		for _, ipc := range prev.IPs {
			if !have[ipc.Address.String()] {
				return fmt.Errorf("address %s missing on %s", ipc.Address.String(), args.IfName)
			}
			if a, _ := netip.AddrFromSlice(ipc.Address.IP); !reserved[a.Unmap()] {
				return fmt.Errorf("address %s is not one reserved (%v)", ipc.Address.IP, addrs)
			}
		}
		routes, err := netlinksafe.RouteList(l, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list routes: %w", err)
		}
		for _, want := range prev.Routes {
			found := false
			for _, r := range routes {
				dst := "0.0.0.0/0"
				if r.Dst != nil {
					dst = r.Dst.String()
				} else if r.Family == netlink.FAMILY_V6 || r.Gw != nil && r.Gw.To4() == nil {
					dst = "::/0"
				}
				if dst == want.Dst.String() && (want.GW == nil || want.GW.Equal(r.Gw)) {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("route %s via %s missing", want.Dst.String(), want.GW)
			}
		}
		return nil
	})
	if err != nil {
		return types.NewError(types.ErrInternal, "CHECK failed", err.Error())
	}
	return nil
}

// GC is CNI GC (spec 1.1): every attachment not in
// cni.dev/valid-attachments loses its reservations, veth and rules, unless
// its reservation is younger than the grace period (gcGracePeriod, default
// DefaultGCGracePeriod): its ADD may have started after the runtime computed
// the valid list.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	valid := map[Owner]bool{}
	for _, a := range cfg.ValidAttachments {
		valid[Owner{ContainerID: a.ContainerID, IfName: a.IfName}] = true
	}
	var errs []error
	store, err := p.openStore(cfg)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
	validIDs := map[string]bool{}
	// Hold the store lock while deleting veths so that a concurrent ADD
	// (which allocates under the same lock) sees a consistent store.
	err = store.Locked(func() error {
		sf, err := store.load()
		if err != nil {
			return err
		}
		// A veth on no bridge may be another network's, mid-ADD or left by its crash: only the
		// ones of attachments this network reserved are ours to remove.
		owned := map[string]bool{}
		for _, e := range sf.Reservations {
			owned[HostVethName(e.ContainerID, e.IfName)] = true
		}
		dropped, young := retain(sf, func(o Owner) bool { return valid[o] }, p.now().Add(-cfg.GCGrace))
		if len(dropped) > 0 {
			if err := store.save(sf); err != nil {
				return err
			}
		}
		validVeths := map[string]bool{}
		for _, set := range []map[Owner]bool{valid, young} {
			for o := range set {
				validIDs[o.ContainerID] = true
				validVeths[HostVethName(o.ContainerID, o.IfName)] = true
			}
		}
		veths, err := bridgeVeths(cfg.Bridge)
		if err != nil {
			return err
		}
		for _, v := range veths {
			if validVeths[v.name] || !v.onBridge && !owned[v.name] {
				continue
			}
			if err := deleteLink(v.name); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		return internal("GC failed", err) // without the young list, no rule may go
	}
	if fw, err := p.firewall(cfg); err != nil {
		errs = append(errs, err)
	} else if fw != nil {
		ctx, cancel := p.ctx()
		defer cancel()
		if err := fw.GC(ctx, validIDs); err != nil {
			errs = append(errs, fmt.Errorf("nftables GC: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return internal("GC failed", err)
	}
	return nil
}

// Status is CNI STATUS. It only looks, changing nothing: code 50 when the
// bridge cannot exist (its name is taken by another kind of link), the
// br_netfilter module is missing or a range is exhausted. A bridge not made
// yet is fine: the first ADD makes it.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if err := bridgeUsable(cfg.Bridge); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot make the bridge", err.Error())
	}
	if _, err := p.readSysctl(brNetfilterSysctl); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errNoBrNetfilter(err)
		}
		return types.NewError(types.ErrPluginNotAvailable, "cannot read node sysctls", err.Error())
	}
	store, err := p.openStore(cfg)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot open the IPAM store", err.Error())
	}
	for _, r := range cfg.IPRanges {
		free, err := store.Free(r)
		if err != nil {
			return types.NewError(types.ErrPluginNotAvailable, "cannot read the IPAM store", err.Error())
		}
		if free <= 0 {
			return types.NewError(types.ErrPluginNotAvailable, "IP range exhausted", r.Prefix.String())
		}
	}
	return nil
}
