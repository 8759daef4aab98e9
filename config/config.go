package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Config is the whole configuration of `podnet serve`. Addresses, CIDRs and ranges are kept as the
// text the user wrote so that Validate can report every bad one at once; Parse returns them typed.
type Config struct {
	DataDir  string  `json:"dataDir"`
	RunDir   string  `json:"runDir"`
	NodeName string  `json:"nodeName"`
	NodeIP   string  `json:"nodeIP"`
	API      API     `json:"api"`
	Network  Network `json:"network"`
	CNI      CNI     `json:"cni"`
	Runtime  Runtime `json:"runtime"`
	Log      Log     `json:"log"`
}

// API configures the Kubernetes API server.
type API struct {
	Port int `json:"port"`
}

// Network configures pod and service addressing and the host objects podnet names.
type Network struct {
	ClusterCIDR string `json:"clusterCIDR"`
	// PodCIDR is this node's share of ClusterCIDR, the range netplug allocates pod IPs from; empty
	// means the first /24 of ClusterCIDR (a kube-controller-manager default node mask).
	PodCIDR       string `json:"podCIDR"`
	ServiceCIDR   string `json:"serviceCIDR"`
	ClusterDNS    string `json:"clusterDNS"`
	NodePortRange string `json:"nodePortRange"`
	ClusterDomain string `json:"clusterDomain"`
	Bridge        string `json:"bridge"`
	NFTablesTable string `json:"nftablesTable"`
	// LoadBalancerPools are the addresses LoadBalancer Services get their ingress IP from, each a
	// CIDR or a FIRST-LAST range, IPv4 or IPv6. Empty: no pool, so LoadBalancer Services stay
	// <pending> and work as NodePort Services, as on a cluster without a load-balancer provider.
	LoadBalancerPools []string `json:"loadBalancerPools"`
	// DNSPort is where podnet's cluster DNS listens on the node IP; the kube-dns Service
	// (port 53 at ClusterDNS) points there.
	DNSPort int `json:"dnsPort"`
	// DNSResolvConf names the upstream resolvers for names outside the cluster domain; when it
	// names only a local stub (127.0.0.53), systemd-resolved's real upstreams are used.
	DNSResolvConf string `json:"dnsResolvConf"`
}

// CNI configures where plugins and the network configuration list are found.
type CNI struct {
	BinDirs []string `json:"binDirs"`
	// ConfDir empty means <dataDir>/cni/net.d, so that it follows --data-dir.
	ConfDir string `json:"confDir"`
}

// Runtime configures how containers are run.
type Runtime struct {
	Executor string `json:"executor"`
	// Offline never contacts an image registry: pods use the images already present (podnet
	// image import) whatever their imagePullPolicy, and a missing one is an image pull error.
	// For air-gapped nodes, and for tests, which must not reach beyond their own namespaces.
	Offline bool `json:"offline"`
}

// Log configures the daemon's logger.
type Log struct {
	Level  string `json:"level"`
	Format string `json:"format"`
}

// Executors podnet can drive; "builtin" is its own.
const (
	ExecutorBuiltin = "builtin"
	ExecutorRunc    = "runc"
	ExecutorCrun    = "crun"
)

// Default returns the configuration used when neither file nor flags say otherwise.
func Default() Config {
	return Config{
		DataDir: "/var/lib/podnet",
		RunDir:  "/run/podnet",
		API:     API{Port: 6443},
		Network: Network{
			ClusterCIDR:   "10.244.0.0/16",
			ServiceCIDR:   "10.96.0.0/12",
			ClusterDNS:    "10.96.0.10",
			NodePortRange: "30000-32767",
			ClusterDomain: "cluster.local",
			Bridge:        "podnet0",
			NFTablesTable: "podnet",
			// Empty rather than nil so that the defaults print as [] and not null.
			LoadBalancerPools: []string{},
			DNSPort:           53,
			DNSResolvConf:     "/etc/resolv.conf",
		},
		CNI:     CNI{BinDirs: []string{"/opt/cni/bin", "/usr/lib/cni"}},
		Runtime: Runtime{Executor: ExecutorBuiltin},
		Log:     Log{Level: "info", Format: "text"},
	}
}

// Load returns Default() overlaid by the YAML file at path; an empty path means no file.
// Keys present in the file replace the defaults (a list replaces the whole default list).
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	if err := decodeStrict(data, &c); err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// decodeStrict rejects unknown and duplicated keys, naming them by their full dotted path
// (sigs.k8s.io/json reports "network.foo" where encoding/json would only say "foo").
func decodeStrict(data []byte, c *Config) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	strict, err := sigsjson.UnmarshalStrict(js, c)
	if err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	return errors.Join(strict...)
}

// CNIConfDir is the directory holding the CNI network configuration list.
func (c Config) CNIConfDir() string {
	if c.CNI.ConfDir != "" {
		return c.CNI.ConfDir
	}
	return filepath.Join(c.DataDir, "cni", "net.d")
}

// KubeconfigPath is where the admin kubeconfig is written.
func (c Config) KubeconfigPath() string { return filepath.Join(c.DataDir, "kubeconfig") }

// PKIDir is where the CA, the serving certificate and the token live.
func (c Config) PKIDir() string { return filepath.Join(c.DataDir, "pki") }

// trimHostname turns a hostname into a node name candidate: Kubernetes node names are lowercase,
// and a trailing dot of a fully qualified name is not part of it.
func trimHostname(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}
