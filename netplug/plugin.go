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

// Firewall programs the nftables rules netplug needs; netplug/nft's *Rules
// implements it (through an adapter in cmd/netplug for PortMapping).
type Firewall interface {
	EnsureBase(ctx context.Context, podCIDR netip.Prefix) error
	AddPortMappings(ctx context.Context, containerID string, podIP netip.Addr, pms []PortMapping) error
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
	// Timeout bounds the nftables work of one call.
	Timeout time.Duration
}

// SupportedVersions are the CNI spec versions netplug speaks.
var SupportedVersions = version.PluginSupports("0.4.0", "1.0.0", "1.1.0")

// Funcs returns the plugin's verbs for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Check: p.Check, Del: p.Del, GC: p.GC, Status: p.Status}
}

// nodeSysctls turns on forwarding and makes bridged traffic pass through nftables, so that Service
// DNAT works between pods on the same bridge. The second exists only with the br_netfilter module
// loaded, which a plugin must not load itself (it changes every bridge on the host): its absence is
// reported as the plugin not being available, with what to do.
func (p *Plugin) nodeSysctls() error {
	for _, s := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.bridge.bridge-nf-call-iptables", "1"}} {
		err := p.sysctl(s[0], s[1])
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(s[0], "net.bridge."):
			return types.NewError(types.ErrPluginNotAvailable,
				"the br_netfilter kernel module is not loaded (load it with: modprobe br_netfilter)", err.Error())
		default:
			return internal("cannot set node sysctls", err)
		}
	}
	return nil
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

// Add is CNI ADD: bridge, veth pair, address, routes, sysctls, rules.
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

	if err := p.nodeSysctls(); err != nil {
		return err
	}
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
	if cfg.Masquerade() || len(cfg.RuntimeConfig.PortMappings) > 0 {
		fwCh = make(chan fwResult, 1)
		go func() {
			fw, err := p.firewall(cfg)
			if err == nil && fw != nil && cfg.Masquerade() {
				ctx, cancel := p.ctx()
				defer cancel()
				err = fw.EnsureBase(ctx, cfg.Prefix)
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
	br, err := ensureBridge(cfg.Bridge, cfg.GatewayIP, cfg.Prefix, mtu)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot make the bridge", err.Error())
	}

	store, err := OpenStore(cfg.DataDir, cfg.Name)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
	owner := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	podIP, err := store.Allocate(cfg.Prefix, cfg.GatewayIP, owner)
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
	result.Interfaces = append(result.Interfaces,
		&current.Interface{Name: hostIf.Name, Mac: hostIf.HardwareAddr.String()},
		&current.Interface{Name: contIf.Name, Mac: contIf.HardwareAddr.String(), Mtu: contIf.MTU, Sandbox: args.Netns},
	)
	idx := 2
	_, all, _ := net.ParseCIDR("0.0.0.0/0")
	result.IPs = []*current.IPConfig{{
		Interface: &idx,
		Address:   net.IPNet{IP: podIP.AsSlice(), Mask: net.CIDRMask(cfg.Prefix.Bits(), 32)},
		Gateway:   cfg.GatewayIP.AsSlice(),
	}}
	result.Routes = []*types.Route{{Dst: *all, GW: cfg.GatewayIP.AsSlice()}}

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
	if err := netns.Do(func(ns.NetNS) error { return ipam.ConfigureIface(args.IfName, result) }); err != nil {
		return internal("cannot configure the pod interface", err)
	}

	if fwCh != nil {
		r := waitFW()
		fw, err := r.fw, r.err
		if err != nil {
			return internal("cannot set up masquerade", err)
		}
		if fw != nil && len(cfg.RuntimeConfig.PortMappings) > 0 {
			if err := store.MarkHostPorts(args.ContainerID); err != nil {
				return internal("cannot record port mappings", err)
			}
			ctx, cancel := p.ctx()
			defer cancel()
			if err := fw.AddPortMappings(ctx, args.ContainerID, podIP, cfg.RuntimeConfig.PortMappings); err != nil {
				return internal("cannot add port mappings", err)
			}
			undo = append(undo, func() {
				ctx, cancel := p.ctx()
				defer cancel()
				_ = fw.RemovePortMappings(ctx, args.ContainerID)
			})
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
	store, err := OpenStore(cfg.DataDir, cfg.Name)
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
	store, err := OpenStore(cfg.DataDir, cfg.Name)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
	owner := Owner{ContainerID: args.ContainerID, IfName: args.IfName}
	reserved, ok, err := store.Get(owner)
	if err != nil {
		return internal("cannot read the IPAM store", err)
	}
	if !ok {
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
			if a, _ := netip.AddrFromSlice(ipc.Address.IP.To4()); a != reserved {
				return fmt.Errorf("address %s is not the reserved %s", ipc.Address.IP, reserved)
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
// cni.dev/valid-attachments loses its reservation, veth and rules.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	valid := map[Owner]bool{}
	validIDs := map[string]bool{}
	validVeths := map[string]bool{}
	for _, a := range cfg.ValidAttachments {
		valid[Owner{ContainerID: a.ContainerID, IfName: a.IfName}] = true
		validIDs[a.ContainerID] = true
		validVeths[HostVethName(a.ContainerID, a.IfName)] = true
	}
	var errs []error
	store, err := OpenStore(cfg.DataDir, cfg.Name)
	if err != nil {
		return internal("cannot open the IPAM store", err)
	}
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
		changed := false
		for ip, o := range sf.Reservations {
			owned[HostVethName(o.ContainerID, o.IfName)] = true
			if !valid[o] {
				delete(sf.Reservations, ip)
				delete(sf.HostPorts, o.ContainerID)
				changed = true
			}
		}
		if changed {
			if err := store.save(sf); err != nil {
				return err
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
		errs = append(errs, err)
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

// Status is CNI STATUS: code 50 when the bridge cannot be made or the range
// is exhausted.
func (p *Plugin) Status(args *skel.CmdArgs) error {
	cfg, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	mtu := cfg.MTU
	if mtu == 0 {
		if mtu, err = uplinkMTU(); err != nil {
			return types.NewError(types.ErrPluginNotAvailable, "cannot find the uplink MTU", err.Error())
		}
	}
	if _, err := ensureBridge(cfg.Bridge, cfg.GatewayIP, cfg.Prefix, mtu); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot make the bridge", err.Error())
	}
	if err := p.nodeSysctls(); err != nil {
		return err
	}
	store, err := OpenStore(cfg.DataDir, cfg.Name)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot open the IPAM store", err.Error())
	}
	free, err := store.Free(cfg.Prefix, cfg.GatewayIP)
	if err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "cannot read the IPAM store", err.Error())
	}
	if free <= 0 {
		return types.NewError(types.ErrPluginNotAvailable, "IP range exhausted", cfg.Prefix.String())
	}
	return nil
}
