package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/cni"
	"github.com/podnet/podnet/config"
	"github.com/podnet/podnet/node"
	"github.com/podnet/podnet/runtime/containers"
	"github.com/podnet/podnet/runtime/executor"
	"github.com/podnet/podnet/runtime/image"
	"github.com/podnet/podnet/runtime/sandbox"
)

// newKubelet wires the container runtime (images, sandboxes, containers under their shims,
// the configured executor) into the kubelet. The CNI GC at start keeps every sandbox on disk:
// the kubelet removes those of pods that are gone, with a DEL each, once it runs.
func newKubelet(ctx context.Context, cfg config.Config, p config.Parsed, reg *registry.Registry, network *cni.Network, log *slog.Logger) (_ *node.Kubelet, _ func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	images, err := image.Open(filepath.Join(cfg.DataDir, "images"), image.Options{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			images.Close()
		}
	}()
	sbs, err := sandbox.New(sandbox.Config{Dir: filepath.Join(cfg.RunDir, "pods"), Network: network, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	live, gcErr := sbs.Attachments()
	if gcErr == nil {
		gcErr = network.GC(ctx, live)
	}
	if gcErr != nil {
		log.Warn("CNI garbage collection at start failed", "err", gcErr)
	}
	var exec executor.Executor = executor.NewBuiltin(exe)
	if cfg.Runtime.Executor != config.ExecutorBuiltin {
		exec = executor.NewOCI(cfg.Runtime.Executor, filepath.Join(cfg.RunDir, cfg.Runtime.Executor))
	}
	ctrs, err := containers.New(containers.Config{
		Dir: filepath.Join(cfg.DataDir, "containers"), ShimDir: filepath.Join(cfg.RunDir, "shims"),
		ShimBinary: filepath.Join(filepath.Dir(exe), "podnet-shim"), Executor: exec,
		CgroupParent: cgroupParent(cfg), Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	k, err := node.NewKubelet(node.KubeletConfig{
		NodeName: cfg.NodeName, NodeIP: p.NodeIP, Registry: reg, Sandboxes: sbs,
		Runtime: &node.LocalRuntime{Images: images, Containers: ctrs, Offline: cfg.Runtime.Offline},
		DNS: node.DNSConfig{ClusterDNS: []string{p.ClusterDNS.String()}, ClusterDomain: cfg.Network.ClusterDomain,
			HostResolvConf: string(resolv)},
		PodsDir: filepath.Join(cfg.DataDir, "pods"), LogsDir: filepath.Join(cfg.DataDir, "logs"), Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	return k, func() { images.Close() }, nil
}

// cgroupParent is where this node's containers' cgroups go: /podnet/<node>-<hash of the data
// dir>, so that two nodes on one machine (the integration tests) never share one.
func cgroupParent(cfg config.Config) string {
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		abs = cfg.DataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("/podnet/%s-%s", cfg.NodeName, hex.EncodeToString(sum[:4]))
}
