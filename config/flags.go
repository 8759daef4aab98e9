package config

import (
	"fmt"

	"github.com/spf13/pflag"
)

// flagSpec ties one flag to one Config field, so that the same table registers the flag and
// later copies the field when, and only when, the user set the flag.
type flagSpec struct {
	name     string
	register func(fs *pflag.FlagSet, c *Config)
	copy     func(dst, src *Config)
}

// bind builds a flagSpec for any field type pflag has a Var method for; register is a method
// expression such as (*pflag.FlagSet).StringVar.
func bind[T any](name, usage string, field func(*Config) *T,
	register func(*pflag.FlagSet, *T, string, T, string)) flagSpec {
	return flagSpec{
		name: name,
		register: func(fs *pflag.FlagSet, c *Config) {
			p := field(c)
			register(fs, p, name, *p, usage)
		},
		copy: func(dst, src *Config) { *field(dst) = *field(src) },
	}
}

var flagSpecs = []flagSpec{
	bind("data-dir", "directory for podnet's persistent state",
		func(c *Config) *string { return &c.DataDir }, (*pflag.FlagSet).StringVar),
	bind("run-dir", "directory for podnet's runtime state (namespaces, sockets)",
		func(c *Config) *string { return &c.RunDir }, (*pflag.FlagSet).StringVar),
	bind("node-name", "name of the Node object (default: the hostname, lowercased)",
		func(c *Config) *string { return &c.NodeName }, (*pflag.FlagSet).StringVar),
	bind("node-ip", "IPv4 address of the node (default: the address of the default-route interface)",
		func(c *Config) *string { return &c.NodeIP }, (*pflag.FlagSet).StringVar),
	bind("api-port", "port of the Kubernetes API, served on the node IP and 127.0.0.1",
		func(c *Config) *int { return &c.API.Port }, (*pflag.FlagSet).IntVar),
	bind("cluster-cidr", "CIDR pod addresses are allocated from",
		func(c *Config) *string { return &c.Network.ClusterCIDR }, (*pflag.FlagSet).StringVar),
	bind("pod-cidr", "this node's pod range inside the cluster CIDR (default: its first /24)",
		func(c *Config) *string { return &c.Network.PodCIDR }, (*pflag.FlagSet).StringVar),
	bind("service-cidr", "CIDR ClusterIPs are allocated from",
		func(c *Config) *string { return &c.Network.ServiceCIDR }, (*pflag.FlagSet).StringVar),
	bind("cluster-dns", "ClusterIP of the cluster DNS service, inside the service CIDR",
		func(c *Config) *string { return &c.Network.ClusterDNS }, (*pflag.FlagSet).StringVar),
	bind("node-port-range", "port range NodePorts are allocated from (BASE-MAX)",
		func(c *Config) *string { return &c.Network.NodePortRange }, (*pflag.FlagSet).StringVar),
	bind("cluster-domain", "DNS domain of the cluster",
		func(c *Config) *string { return &c.Network.ClusterDomain }, (*pflag.FlagSet).StringVar),
	bind("bridge", "name of the pod bridge",
		func(c *Config) *string { return &c.Network.Bridge }, (*pflag.FlagSet).StringVar),
	bind("nftables-table", "name of podnet's nftables table",
		func(c *Config) *string { return &c.Network.NFTablesTable }, (*pflag.FlagSet).StringVar),
	bind("load-balancer-pool", "CIDR or FIRST-LAST range LoadBalancer IPs are allocated from (repeatable or comma-separated)",
		func(c *Config) *[]string { return &c.Network.LoadBalancerPools }, (*pflag.FlagSet).StringSliceVar),
	bind("dns-port", "port of the cluster DNS server on the node IP (the kube-dns Service's target port)",
		func(c *Config) *int { return &c.Network.DNSPort }, (*pflag.FlagSet).IntVar),
	bind("dns-resolv-conf", "resolv.conf naming the upstream resolvers of the cluster DNS",
		func(c *Config) *string { return &c.Network.DNSResolvConf }, (*pflag.FlagSet).StringVar),
	bind("cni-bin-dir", "directories searched for CNI plugins (repeatable or comma-separated)",
		func(c *Config) *[]string { return &c.CNI.BinDirs }, (*pflag.FlagSet).StringSliceVar),
	bind("cni-conf-dir", "directory of the CNI network configuration list (default <data-dir>/cni/net.d)",
		func(c *Config) *string { return &c.CNI.ConfDir }, (*pflag.FlagSet).StringVar),
	bind("executor", "container executor: builtin, runc or crun",
		func(c *Config) *string { return &c.Runtime.Executor }, (*pflag.FlagSet).StringVar),
	bind("offline", "never pull images from a registry; use those already present",
		func(c *Config) *bool { return &c.Runtime.Offline }, (*pflag.FlagSet).BoolVar),
	bind("log-level", "log level: debug, info, warn or error",
		func(c *Config) *string { return &c.Log.Level }, (*pflag.FlagSet).StringVar),
	bind("log-format", "log format: text or json",
		func(c *Config) *string { return &c.Log.Format }, (*pflag.FlagSet).StringVar),
}

// RegisterFlags adds one flag per setting to fs, bound to c's fields and showing c's current
// values as defaults. The --config flag itself belongs to the command.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range flagSpecs {
		s.register(fs, c)
	}
}

// ApplyFlags copies onto c every setting whose flag the user set on fs; flagged is the Config
// RegisterFlags bound fs to. Flags left unset never override what c (say, a file) holds.
func (c *Config) ApplyFlags(fs *pflag.FlagSet, flagged *Config) {
	for _, s := range flagSpecs {
		if fs.Changed(s.name) {
			s.copy(c, flagged)
		}
	}
}

// LoadWithFlags is the whole precedence chain: Default(), then the file at path (if any), then
// the flags set on fs, which RegisterFlags bound to flagged.
func LoadWithFlags(path string, fs *pflag.FlagSet, flagged *Config) (Config, error) {
	if !fs.Parsed() {
		return Config{}, fmt.Errorf("loading config: flags not parsed yet")
	}
	c, err := Load(path)
	if err != nil {
		return Config{}, err
	}
	c.ApplyFlags(fs, flagged)
	return c, nil
}
