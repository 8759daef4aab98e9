package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"

	"github.com/containernetworking/cni/libcni"
)

// DefaultConflistFile is the name under which the default netplug conflist is written.
const DefaultConflistFile = "10-podnet.conflist"

// DefaultNetworkName is the network name of the default conflist.
const DefaultNetworkName = "podnet"

// confExtensions are the file names kubelet (through libcni) considers network configurations.
var confExtensions = []string{".conf", ".conflist", ".json"}

// defaultBinDirs are the CNI bin dirs used when the configuration names none.
var defaultBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// BinDirs returns the plugin search path: the directory holding podnet's own executable (exe; empty
// to leave it out) first, then the configured dirs, or /opt/cni/bin and /usr/lib/cni when none are
// configured. Duplicates and empty entries are dropped, keeping the first occurrence.
func BinDirs(exe string, configured []string) []string {
	dirs := configured
	if len(dirs) == 0 {
		dirs = defaultBinDirs
	}
	var all []string
	if exe != "" {
		all = append(all, filepath.Dir(exe))
	}
	all = append(all, dirs...)
	seen := map[string]bool{}
	out := make([]string, 0, len(all))
	for _, d := range all {
		if d == "" {
			continue
		}
		d = filepath.Clean(d)
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// DefaultConflist returns the conflist podnet writes when the conf dir holds no valid one: one
// netplug plugin on the bridge, with the node's pod range, netplug's IPAM store in dataDir (left
// out when empty), and the portMappings capability.
func DefaultConflist(bridge string, podCIDR netip.Prefix, dataDir string) ([]byte, error) {
	if !podCIDR.IsValid() {
		return nil, fmt.Errorf("default conflist: invalid pod CIDR %q", podCIDR)
	}
	type plugin struct {
		Type         string          `json:"type"`
		Bridge       string          `json:"bridge"`
		Subnet       string          `json:"subnet"`
		DataDir      string          `json:"dataDir,omitempty"`
		Capabilities map[string]bool `json:"capabilities"`
	}
	list := struct {
		CNIVersion string   `json:"cniVersion"`
		Name       string   `json:"name"`
		Plugins    []plugin `json:"plugins"`
	}{
		CNIVersion: "1.1.0",
		Name:       DefaultNetworkName,
		Plugins: []plugin{{
			Type:         "netplug",
			Bridge:       bridge,
			Subnet:       podCIDR.Masked().String(),
			DataDir:      dataDir,
			Capabilities: map[string]bool{"portMappings": true},
		}},
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("default conflist: %w", err)
	}
	return append(b, '\n'), nil
}

// loadConflist returns the lexicographically first valid network configuration in dir and its
// file, as kubelet chooses it. A *.conf or *.json file holding a single plugin configuration is
// wrapped into a list. Invalid files are skipped; skipped reports why each was.
func loadConflist(dir string) (list *libcni.NetworkConfigList, file string, skipped []error, err error) {
	files, err := libcni.ConfFiles(dir, confExtensions)
	if err != nil {
		return nil, "", nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(files)
	for _, f := range files {
		l, err := loadFile(f)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("%s: %w", f, err))
			continue
		}
		return l, f, skipped, nil
	}
	return nil, "", skipped, nil
}

func loadFile(f string) (*libcni.NetworkConfigList, error) {
	var (
		l   *libcni.NetworkConfigList
		err error
	)
	if filepath.Ext(f) == ".conflist" {
		l, err = libcni.NetworkConfFromFile(f)
	} else {
		// Single-plugin .conf/.json files are deprecated in libcni but still read by kubelet and
		// containerd, so users' existing configurations keep working here too.
		var c *libcni.PluginConfig
		c, err = libcni.ConfFromFile(f) //lint:ignore SA1019 see above
		if err == nil {
			l, err = libcni.ConfListFromConf(c) //lint:ignore SA1019 see above
		}
	}
	if err != nil {
		return nil, err
	}
	if len(l.Plugins) == 0 {
		return nil, errors.New("no plugins")
	}
	if l.Name == "" {
		return nil, errors.New("no network name")
	}
	for i, p := range l.Plugins {
		if p.Network == nil || p.Network.Type == "" {
			return nil, fmt.Errorf("plugin %d has no type", i)
		}
	}
	return l, nil
}
