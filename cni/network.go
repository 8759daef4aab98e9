package cni

import (
	"context"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/atomicfile"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// DefaultTimeout bounds each plugin call when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultIfName is the pod's interface name when an Attachment names none.
const DefaultIfName = "eth0"

// Config says where the network configuration, the plugins and podnet's libcni cache live.
type Config struct {
	ConfDir  string       // <data-dir>/cni/net.d
	BinDirs  []string     // plugin search path, see BinDirs; empty means BinDirs(os.Executable(), nil)
	CacheDir string       // private libcni cache, <data-dir>/cni/cache; required
	PodCIDR  netip.Prefix // the node's pod range for the default conflist (config's network.podCIDR)
	Bridge   string       // bridge of the default conflist; empty means podnet0
	DataDir  string       // netplug's IPAM store for the default conflist: <data-dir>/cni/netplug
	Timeout  time.Duration
}

// PortMapping is one hostPort, in the form of the portMappings capability.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp, udp or sctp (lower case, as kubelet passes it)
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment is one pod sandbox's interface on the network.
type Attachment struct {
	ContainerID  string // the sandbox ID (K8S_POD_INFRA_CONTAINER_ID)
	NetNS        string // path of the sandbox's network namespace
	IfName       string // empty means eth0
	PodNamespace string
	PodName      string
	PortMappings []PortMapping
}

// Result is what an ADD gave the pod.
type Result struct {
	IPs      []netip.Prefix // the pod's addresses with their prefix length
	Gateways []netip.Addr   // the gateway of each address, where the plugin gave one
	Raw      *types100.Result
}

// PodIPs returns the pod's addresses without prefix lengths.
func (r *Result) PodIPs() []netip.Addr {
	out := make([]netip.Addr, 0, len(r.IPs))
	for _, p := range r.IPs {
		out = append(out, p.Addr())
	}
	return out
}

// libCNI is the part of libcni the Network uses; tests fake it.
type libCNI interface {
	AddNetworkList(ctx context.Context, net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (types.Result, error)
	CheckNetworkList(ctx context.Context, net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error
	DelNetworkList(ctx context.Context, net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error
	GetNetworkListCachedConfig(net *libcni.NetworkConfigList, rt *libcni.RuntimeConf) ([]byte, *libcni.RuntimeConf, error)
	GCNetworkList(ctx context.Context, net *libcni.NetworkConfigList, args *libcni.GCArgs) error
	GetStatusNetworkList(ctx context.Context, net *libcni.NetworkConfigList) error
}

// pluginFinder finds a plugin executable in the bin dirs.
type pluginFinder func(plugin string, paths []string) (string, error)

// Network runs one network configuration list through libcni. It is safe for concurrent use.
type Network struct {
	cfg     Config
	list    *libcni.NetworkConfigList
	file    string
	skipped []error
	cni     libCNI
	find    pluginFinder
	timeout time.Duration
	binDirs []string
}

// New loads the lexicographically first valid conflist in cfg.ConfDir, as kubelet does, or, when
// the directory holds none, writes the default netplug conflist (DefaultConflist) there and uses it.
func New(cfg Config) (*Network, error) {
	if cfg.ConfDir == "" {
		return nil, errors.New("cni: no conf dir")
	}
	if cfg.CacheDir == "" {
		return nil, errors.New("cni: no cache dir (podnet needs a private one)")
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "podnet0"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if len(cfg.BinDirs) == 0 {
		exe, _ := os.Executable()
		cfg.BinDirs = BinDirs(exe, nil)
	}
	list, file, skipped, err := loadConflist(cfg.ConfDir)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	if list == nil {
		data, err := DefaultConflist(cfg.Bridge, cfg.PodCIDR, cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("cni: %w", err)
		}
		if err := os.MkdirAll(cfg.ConfDir, 0o755); err != nil {
			return nil, fmt.Errorf("cni: %w", err)
		}
		file = filepath.Join(cfg.ConfDir, DefaultConflistFile)
		if err := atomicfile.Write(file, data, 0o644); err != nil {
			return nil, fmt.Errorf("cni: writing default conflist: %w", err)
		}
		if list, err = loadFile(file); err != nil {
			return nil, fmt.Errorf("cni: default conflist: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	ex := newProcessExec()
	return &Network{
		cfg:     cfg,
		list:    list,
		file:    file,
		skipped: skipped,
		cni:     libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, ex),
		find:    ex.FindInPath,
		timeout: cfg.Timeout,
		binDirs: cfg.BinDirs,
	}, nil
}

// Name is the network's name, from its conflist.
func (n *Network) Name() string { return n.list.Name }

// CNIVersion is the conflist's cniVersion.
func (n *Network) CNIVersion() string { return n.list.CNIVersion }

// File is the conflist in use.
func (n *Network) File() string { return n.file }

// Skipped says why each configuration file sorted before File was not used.
func (n *Network) Skipped() []error { return n.skipped }

func (a Attachment) ifName() string {
	if a.IfName == "" {
		return DefaultIfName
	}
	return a.IfName
}

// runtimeConf is the libcni form of a, with CNI_ARGS as kubelet passes them.
func (a Attachment) runtimeConf() *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: a.ContainerID,
		NetNS:       a.NetNS,
		IfName:      a.ifName(),
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", a.PodNamespace},
			{"K8S_POD_NAME", a.PodName},
			{"K8S_POD_INFRA_CONTAINER_ID", a.ContainerID},
		},
	}
	if len(a.PortMappings) > 0 {
		rt.CapabilityArgs = map[string]interface{}{"portMappings": a.PortMappings}
	}
	return rt
}

func (a Attachment) String() string {
	return fmt.Sprintf("%s/%s (sandbox %s, %s)", a.PodNamespace, a.PodName, a.ContainerID, a.ifName())
}

// Add attaches the sandbox to the network. When the ADD fails, a best-effort DEL undoes whatever
// the plugins had done, so that nothing leaks.
func (n *Network) Add(ctx context.Context, a Attachment) (*Result, error) {
	rt := a.runtimeConf()
	cctx, cancel := context.WithTimeout(ctx, n.timeout)
	res, err := n.cni.AddNetworkList(cctx, n.list, rt)
	cancel()
	if err != nil {
		err = fmt.Errorf("cni ADD %s on network %s: %w", a, n.list.Name, err)
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), n.timeout)
		defer dcancel()
		if derr := n.cni.DelNetworkList(dctx, n.list, rt); derr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up after the failed ADD: %w", derr))
		}
		return nil, err
	}
	r, err := convertResult(res)
	if err != nil {
		return nil, fmt.Errorf("cni ADD %s on network %s: %w", a, n.list.Name, err)
	}
	return r, nil
}

// Check asks the plugins whether the sandbox's attachment is as ADD left it.
func (n *Network) Check(ctx context.Context, a Attachment) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := n.cni.CheckNetworkList(ctx, n.list, a.runtimeConf()); err != nil {
		return fmt.Errorf("cni CHECK %s on network %s: %w", a, n.list.Name, err)
	}
	return nil
}

// Del detaches the sandbox. Plugins treat missing resources (netns, interface, reservation) as
// already deleted, so Del can be repeated. When a names no port mappings or no netns (a runtime
// that restarted may know only the sandbox ID), the ones libcni cached at ADD are used, so that
// hostPort rules are removed too.
func (n *Network) Del(ctx context.Context, a Attachment) error {
	rt := a.runtimeConf()
	if rt.CapabilityArgs == nil || rt.NetNS == "" {
		if _, cached, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && cached != nil {
			if rt.CapabilityArgs == nil {
				rt.CapabilityArgs = cached.CapabilityArgs
			}
			if rt.NetNS == "" {
				rt.NetNS = cached.NetNS
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := n.cni.DelNetworkList(ctx, n.list, rt); err != nil {
		return fmt.Errorf("cni DEL %s on network %s: %w", a, n.list.Name, err)
	}
	return nil
}

// GC removes every attachment that is not in live: libcni DELs the stale attachments recorded in
// podnet's cache, then (cniVersion >= 1.1.0) sends GC with the live ones as
// cni.dev/valid-attachments, so that plugins drop what the cache no longer knows about (an ADD
// killed half-way, for instance).
func (n *Network) GC(ctx context.Context, live []Attachment) error {
	valid := make([]types.GCAttachment, 0, len(live))
	for _, a := range live {
		valid = append(valid, types.GCAttachment{ContainerID: a.ContainerID, IfName: a.ifName()})
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := n.cni.GCNetworkList(ctx, n.list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
		return fmt.Errorf("cni GC on network %s: %w", n.list.Name, err)
	}
	return nil
}

// Status reports whether the network can take an ADD: each plugin must be in the bin dirs, and, at
// cniVersion >= 1.1.0, answer STATUS without error. A nil error means the node's network is ready.
func (n *Network) Status(ctx context.Context) error {
	for _, p := range n.list.Plugins {
		if _, err := n.find(p.Network.Type, n.binDirs); err != nil {
			return fmt.Errorf("cni STATUS on network %s: plugin %s: %w", n.list.Name, p.Network.Type, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := n.cni.GetStatusNetworkList(ctx, n.list); err != nil {
		return fmt.Errorf("cni STATUS on network %s: %w", n.list.Name, err)
	}
	return nil
}

// convertResult turns a plugin's result, whatever its version, into a Result.
func convertResult(res types.Result) (*Result, error) {
	if res == nil {
		return nil, errors.New("plugins returned no result")
	}
	r100, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("converting result: %w", err)
	}
	// Keep the addresses on interfaces inside the sandbox; a result that names no interfaces
	// (IPAM-only plugins) counts every address.
	inSandbox := func(ip *types100.IPConfig) bool {
		if ip.Interface == nil || *ip.Interface < 0 || *ip.Interface >= len(r100.Interfaces) {
			return true
		}
		return r100.Interfaces[*ip.Interface].Sandbox != ""
	}
	out := &Result{Raw: r100}
	for _, ip := range r100.IPs {
		if !inSandbox(ip) {
			continue
		}
		addr, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			return nil, fmt.Errorf("bad address %v in result", ip.Address.IP)
		}
		addr = addr.Unmap()
		ones, _ := ip.Address.Mask.Size()
		out.IPs = append(out.IPs, netip.PrefixFrom(addr, ones))
		if gw, ok := netip.AddrFromSlice(ip.Gateway); ok {
			out.Gateways = append(out.Gateways, gw.Unmap())
		}
	}
	if len(out.IPs) == 0 {
		return nil, errors.New("plugins gave the pod no IP address")
	}
	return out, nil
}
