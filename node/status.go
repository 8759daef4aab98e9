package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
)

// Host is what the Node object says about this machine. SystemInfo reads it from the host.
type Host struct {
	CPUs          int
	MemoryBytes   int64
	KernelVersion string
	OSImage       string
	MachineID     string
	BootID        string
}

// SystemInfo reads the host's facts from /proc and /etc; missing files leave fields empty.
func SystemInfo() Host {
	h := Host{CPUs: runtime.NumCPU()}
	h.KernelVersion = readTrim("/proc/sys/kernel/osrelease")
	h.MachineID = readTrim("/etc/machine-id")
	h.BootID = readTrim("/proc/sys/kernel/random/boot_id")
	h.OSImage = osImage(readTrim("/etc/os-release"))
	h.MemoryBytes = memTotal(readTrim("/proc/meminfo"))
	return h
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osImage(osRelease string) string {
	for _, line := range strings.Split(osRelease, "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func memTotal(meminfo string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb * 1024
		}
	}
	return 0
}

// Config describes this node.
type Config struct {
	Name           string
	IP             netip.Addr
	PodCIDR        netip.Prefix
	Host           Host
	KubeletVersion string
	RuntimeVersion string
	// Interval between heartbeats (kubelet's nodeStatusUpdateFrequency is 10 s).
	Interval time.Duration
	// NetworkReady reports whether pods can get networking (the CNI plugins' STATUS); nil means
	// always. While it fails, the Node is not Ready, as kubelet reports it.
	NetworkReady func(ctx context.Context) error
	Logger       *slog.Logger
	Now          func() time.Time
}

// Status keeps this host's Node object.
type Status struct {
	cfg Config
	reg *registry.Registry
}

// NewStatus makes the Node status reporter.
func NewStatus(reg *registry.Registry, cfg Config) *Status {
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Status{cfg: cfg, reg: reg}
}

// Register creates the Node object if it is missing and reports its status once.
func (s *Status) Register(ctx context.Context) error {
	_, err := s.reg.Create(ctx, apiresource.Nodes, "", s.node(), registry.WriteOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", s.cfg.Name, err)
	}
	return s.report(ctx)
}

// Run reports status every interval until ctx ends.
func (s *Status) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.report(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("node status update failed", "err", err)
			}
		}
	}
}

func (s *Status) report(ctx context.Context) error {
	netErr := s.networkReady(ctx)
	_, err := s.reg.Update(ctx, apiresource.Nodes, "", s.cfg.Name, "status", func(cur k8sruntime.Object) (k8sruntime.Object, error) {
		n := cur.(*corev1.Node)
		n.Status = s.status(n.Status.Conditions, netErr)
		return n, nil
	}, registry.WriteOptions{})
	if apierrors.IsNotFound(err) { // deleted by a user: register again, as the kubelet does
		_, err = s.reg.Create(ctx, apiresource.Nodes, "", s.node(), registry.WriteOptions{})
	}
	return err
}

func (s *Status) node() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.cfg.Name, Labels: map[string]string{
			"kubernetes.io/hostname": s.cfg.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
			"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": runtime.GOARCH,
		}},
		Spec:   corev1.NodeSpec{PodCIDR: s.cfg.PodCIDR.String(), PodCIDRs: []string{s.cfg.PodCIDR.String()}},
		Status: s.status(nil, s.networkReady(context.Background())),
	}
}

func (s *Status) networkReady(ctx context.Context) error {
	if s.cfg.NetworkReady == nil {
		return nil
	}
	return s.cfg.NetworkReady(ctx)
}

// readyCondition is kubelet's Ready condition: True, or False with kubelet's words for a network
// that is not ready.
func readyCondition(prev []corev1.NodeCondition, netErr error, now metav1.Time) corev1.NodeCondition {
	if netErr != nil {
		return condition(prev, corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady",
			"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: "+netErr.Error(), now)
	}
	return condition(prev, corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status", now)
}

// status is the full node status; conditions keep their lastTransitionTime while unchanged.
func (s *Status) status(prev []corev1.NodeCondition, netErr error) corev1.NodeStatus {
	h := s.cfg.Host
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(h.CPUs), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(h.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	now := metav1.NewTime(s.cfg.Now())
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			condition(prev, corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
			condition(prev, corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
			condition(prev, corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
			readyCondition(prev, netErr, now),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: s.cfg.IP.String()},
			{Type: corev1.NodeHostName, Address: s.cfg.Name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: h.MachineID, BootID: h.BootID, KernelVersion: h.KernelVersion, OSImage: h.OSImage,
			ContainerRuntimeVersion: s.cfg.RuntimeVersion, KubeletVersion: s.cfg.KubeletVersion,
			OperatingSystem: "linux", Architecture: runtime.GOARCH,
		},
	}
}

func condition(prev []corev1.NodeCondition, typ corev1.NodeConditionType, st corev1.ConditionStatus, reason, msg string, now metav1.Time) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: typ, Status: st, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	for _, p := range prev {
		if p.Type == typ && p.Status == st {
			c.LastTransitionTime = p.LastTransitionTime
		}
	}
	return c
}
