package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// cniCase is one plugin chain measured by the CNI benchmark.
type cniCase struct {
	name     string
	conflist string
}

// cniCases: netplug against the reference plugins podnet users would otherwise run (bridge +
// host-local from Debian's containernetworking-plugins), each on its own bridge and range, with
// masquerading off in both so that the figures compare like with like.
func cniCases(dataDir string) []cniCase {
	return []cniCase{
		{"netplug", fmt.Sprintf(`{"cniVersion":"1.1.0","name":"bench-netplug","plugins":[{"type":"netplug",
			"bridge":"pnbench0","subnet":"10.250.0.0/24","ipMasq":false,"dataDir":%q}]}`, filepath.Join(dataDir, "netplug"))},
		{"bridge+host-local", fmt.Sprintf(`{"cniVersion":"1.0.0","name":"bench-ref","plugins":[{"type":"bridge",
			"bridge":"refbench0","isGateway":true,"ipMasq":false,"hairpinMode":true,
			"ipam":{"type":"host-local","ranges":[[{"subnet":"10.251.0.0/24"}]],"dataDir":%q}}]}`, filepath.Join(dataDir, "host-local"))},
	}
}

// benchCNI measures ADD and DEL of one attachment, cycle after cycle, for each case. It runs in
// the bench's own network namespace (the "node"); the pod is a namespace it makes and removes.
func benchCNI(ctx context.Context, binDirs []string, dataDir string, cycles int) (map[string]map[string]latency, error) {
	pod := fmt.Sprintf("pnbench-pod-%d", os.Getpid())
	if err := run("ip", "netns", "add", pod); err != nil {
		return nil, err
	}
	defer run("ip", "netns", "del", pod)
	cni := libcni.NewCNIConfigWithCacheDir(binDirs, filepath.Join(dataDir, "cache"), nil)
	out := map[string]map[string]latency{}
	for _, c := range cniCases(dataDir) {
		list, err := libcni.ConfListFromBytes([]byte(c.conflist))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		rt := &libcni.RuntimeConf{ContainerID: "bench", NetNS: "/run/netns/" + pod, IfName: "eth0"}
		var add, del []time.Duration
		for i := 0; i < cycles; i++ {
			start := time.Now()
			if _, err := cni.AddNetworkList(ctx, list, rt); err != nil {
				return nil, fmt.Errorf("%s ADD: %w", c.name, err)
			}
			add = append(add, time.Since(start))
			start = time.Now()
			if err := cni.DelNetworkList(ctx, list, rt); err != nil {
				return nil, fmt.Errorf("%s DEL: %w", c.name, err)
			}
			del = append(del, time.Since(start))
		}
		out[c.name] = map[string]latency{"add": percentiles(add), "del": percentiles(del)}
	}
	return out, nil
}

// cniRows turns the CNI figures into table rows (podnet column: netplug; peer: the reference).
func cniRows(lat map[string]map[string]latency) []row {
	np, ref := lat["netplug"], lat["bridge+host-local"]
	return []row{
		{"CNI ADD p50 (ms)", ms(np["add"].p50), ms(ref["add"].p50), "≤ reference and ≤ 10 ms"},
		{"CNI ADD p99 (ms)", ms(np["add"].p99), ms(ref["add"].p99), ""},
		{"CNI DEL p50 (ms)", ms(np["del"].p50), ms(ref["del"].p50), ""},
		{"CNI DEL p99 (ms)", ms(np["del"].p99), ms(ref["del"].p99), ""},
	}
}

// pluginDirs: netplug beside podnet (bin/), then the reference plugins' directory.
func pluginDirs(podnetBin string) ([]string, error) {
	dir := filepath.Dir(podnetBin)
	if _, err := exec.LookPath(filepath.Join(dir, "netplug")); err != nil {
		return nil, fmt.Errorf("netplug not built beside %s: %w", podnetBin, err)
	}
	return []string{dir, "/usr/lib/cni"}, nil
}
