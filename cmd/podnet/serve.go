package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/podnet/podnet/api"
	"github.com/podnet/podnet/api/discovery"
	"github.com/podnet/podnet/api/pki"
	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/cni"
	"github.com/podnet/podnet/config"
	"github.com/podnet/podnet/node"
	"github.com/podnet/podnet/services/allocator"
	"github.com/podnet/podnet/version"
	"github.com/podnet/podnet/workload"
)

func newServeCommand() *cobra.Command {
	var configFile string
	flagged := config.Default()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the node in the foreground (stops cleanly on SIGTERM or SIGINT)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadWithFlags(configFile, cmd.Flags(), &flagged)
			if err != nil {
				return err
			}
			if err := cfg.Complete(config.NetlinkDetector{}); err != nil {
				return err
			}
			parsed, err := cfg.Parse() // the one validation pass
			if err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return serve(ctx, cfg, parsed)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (flags override it)")
	flagged.RegisterFlags(cmd.Flags())
	return cmd
}

// serve runs the node until ctx ends.
func serve(ctx context.Context, cfg config.Config, parsed config.Parsed) error {
	log := cfg.Logger(os.Stderr)
	// Library code logs through klog (e.g. a websocket session that ends: "Error on socket
	// receive"); those are details of podnet's own streams, so they go to slog at debug level.
	klog.SetSlogLogger(slog.New(debugOnly{log.Handler()}))
	for _, dir := range []string{cfg.DataDir, cfg.RunDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("make %s: %w", dir, err)
		}
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "state.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	alloc, err := newAllocator(st, parsed, log)
	if err != nil {
		return err
	}
	reg := registry.New(registry.Config{
		Store: st,
		Hooks: map[schema.GroupVersionResource]registry.Hook{
			resource.Services.GVR: alloc,
			resource.Pods.GVR:     node.Scheduler{NodeName: cfg.NodeName},
		},
		Logger: log,
	})

	// Pods reach the API as https://10.96.0.1 or kubernetes.default.svc: the certificate names
	// those too, as kube-apiserver's does.
	creds, err := pki.Ensure(cfg.PKIDir(),
		[]net.IP{parsed.NodeIP.AsSlice(), net.IPv4(127, 0, 0, 1), firstIP(parsed).AsSlice()},
		apiDNSNames(cfg.NodeName, cfg.Network.ClusterDomain), time.Now())
	if err != nil {
		return err
	}
	serverURL := "https://" + net.JoinHostPort(parsed.NodeIP.String(), strconv.Itoa(cfg.API.Port))
	if err := pki.WriteKubeconfig(cfg.KubeconfigPath(), serverURL, creds.CAPEM, creds.Token); err != nil {
		return err
	}

	disc, err := discovery.NewHandler()
	if err != nil {
		return err
	}
	network, err := newNetwork(ctx, cfg, parsed, log)
	if err != nil {
		return err
	}
	kubelet, closeRuntime, err := newKubelet(ctx, cfg, parsed, reg, network, log)
	if err != nil {
		return err
	}
	defer closeRuntime()
	if err := api.Bootstrap(ctx, reg, api.BootstrapConfig{
		ServiceIP: firstIP(parsed), EndpointIP: parsed.NodeIP, EndpointPort: int32(cfg.API.Port),
	}); err != nil {
		return err
	}
	nodeStatus := node.NewStatus(reg, node.Config{
		Name: cfg.NodeName, IP: parsed.NodeIP, PodCIDR: parsed.PodCIDR, Host: node.SystemInfo(),
		KubeletVersion: version.KubernetesVersion, RuntimeVersion: "podnet://" + version.Version, Logger: log,
		NetworkReady: network.Status,
	})
	if err := nodeStatus.Register(ctx); err != nil {
		return err
	}
	log.Info("node registered", "node", cfg.NodeName, "ip", parsed.NodeIP, "kubeconfig", cfg.KubeconfigPath())

	// Background loops end with ctx; the store closes (deferred above) only after they have.
	var loops sync.WaitGroup
	loopCtx, stopLoops := context.WithCancel(ctx)
	defer loops.Wait()
	defer stopLoops()
	loops.Go(func() { nodeStatus.Run(loopCtx) })
	loops.Go(func() { reg.RunControllers(loopCtx, 10*time.Second) })
	loops.Go(func() { workload.New(workload.Config{Registry: reg, Logger: log}).Run(loopCtx) })
	metrics, err := runServices(loopCtx, &loops, reg, cfg, parsed, log)
	if err != nil {
		return err
	}
	loops.Go(func() {
		if err := kubelet.Run(loopCtx); err != nil {
			log.Error("kubelet stopped", "err", err)
		}
	})

	srv := api.New(ctx, api.Config{
		Registry: reg, Token: creds.Token, Discovery: disc, Logger: log,
		Version: apiVersion(), Pods: kubelet, Metrics: metrics,
	})
	return listenAndServe(ctx, log, srv.Handler(), creds.ServingCert, apiAddresses(parsed.NodeIP.String(), cfg.API.Port))
}

// debugOnly demotes every record to debug level.
type debugOnly struct{ slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(a []slog.Attr) slog.Handler { return debugOnly{d.Handler.WithAttrs(a)} }
func (d debugOnly) WithGroup(n string) slog.Handler      { return debugOnly{d.Handler.WithGroup(n)} }

func apiAddresses(nodeIP string, port int) []string {
	addrs := []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if nodeIP != "127.0.0.1" {
		addrs = append(addrs, net.JoinHostPort(nodeIP, strconv.Itoa(port)))
	}
	return addrs
}

func apiVersion() api.VersionInfo {
	major, minor, _ := strings.Cut(strings.TrimPrefix(version.KubernetesVersion, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	return api.VersionInfo{GitVersion: version.KubernetesVersion, Major: major, Minor: minor,
		Platform: "linux/" + goarch(), GoVersion: goVersion()}
}

// listenAndServe serves HTTPS on every address until ctx ends, then shuts down: watches end at
// once (they follow ctx), other requests get a few seconds to finish.
func listenAndServe(ctx context.Context, log *slog.Logger, h http.Handler, cert tls.Certificate, addrs []string) error {
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	servers := make([]*http.Server, 0, len(addrs))
	errc := make(chan error, len(addrs))
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		s := &http.Server{Handler: h, TLSConfig: tlsCfg, ReadHeaderTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		servers = append(servers, s)
		go func() { errc <- s.ServeTLS(ln, "", "") }()
		log.Info("API serving", "address", "https://"+addr)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("stopping")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(shutdown)
	}
	return nil
}

// newAllocator builds the Service allocator and repairs it from the stored Services, so that
// what a crash left allocated is allocated again and nothing else is.
func newAllocator(st *store.Store, p config.Parsed, log *slog.Logger) (allocator.Admission, error) {
	a, err := allocator.New(allocator.Config{ServiceCIDR: p.ServiceCIDR, DNSServiceIP: p.ClusterDNS,
		NodePortRange: allocator.PortRange{Base: p.NodePortRange.Base, Size: p.NodePortRange.Size}})
	if err != nil {
		return allocator.Admission{}, err
	}
	objs, _, err := st.List(resource.Services, "", nil)
	if err != nil {
		return allocator.Admission{}, err
	}
	svcs := make([]*corev1.Service, len(objs))
	for i, o := range objs {
		svcs[i] = o.(*corev1.Service)
	}
	for _, problem := range a.Repair(svcs) {
		log.Warn("service allocation repair", "problem", problem)
	}
	return allocator.Admission{A: a}, nil
}

// firstIP is the service CIDR's first address, the `kubernetes` service's ClusterIP.
func firstIP(p config.Parsed) netip.Addr { return p.ServiceCIDR.Masked().Addr().Next() }

func goarch() string    { return runtime.GOARCH }
func goVersion() string { return runtime.Version() }

func apiDNSNames(nodeName, domain string) []string {
	return []string{"localhost", nodeName, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + domain}
}

// newNetwork loads the CNI network, writing the default netplug conflist for the node's pod range
// when none is configured. (newKubelet collects what a crash left behind.)
func newNetwork(ctx context.Context, cfg config.Config, p config.Parsed, log *slog.Logger) (*cni.Network, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, "cni")
	n, err := cni.New(cni.Config{
		ConfDir: cfg.CNIConfDir(), BinDirs: cni.BinDirs(exe, cfg.CNI.BinDirs), CacheDir: filepath.Join(dir, "cache"),
		PodCIDR: p.PodCIDR, Bridge: cfg.Network.Bridge, DataDir: filepath.Join(dir, "netplug"),
	})
	if err != nil {
		return nil, err
	}
	log.Info("pod network", "network", n.Name(), "conflist", n.File())
	return n, nil
}
