package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

func newStatus(t *testing.T, now *time.Time) (*Status, *registry.Registry) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(registry.Config{Store: st, Now: func() time.Time { return *now }})
	s := NewStatus(reg, Config{
		Name: "n1", IP: netip.MustParseAddr("10.0.0.2"), PodCIDR: netip.MustParsePrefix("10.244.0.0/16"),
		Host:           Host{CPUs: 2, MemoryBytes: 4 << 30, KernelVersion: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)"},
		KubeletVersion: "v1.32.11", RuntimeVersion: "podnet://dev", Now: func() time.Time { return *now },
	})
	return s, reg
}

func getNode(t *testing.T, reg *registry.Registry) *corev1.Node {
	t.Helper()
	obj, err := reg.Get(apiresource.Nodes, "", "n1")
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Node)
}

func summary(n *corev1.Node) string {
	ready := ""
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = fmt.Sprintf("%s/%s heartbeat=%s transition=%s", c.Status, c.Reason,
				c.LastHeartbeatTime.UTC().Format("15:04:05"), c.LastTransitionTime.UTC().Format("15:04:05"))
		}
	}
	cpu, mem, pods := n.Status.Capacity[corev1.ResourceCPU], n.Status.Capacity[corev1.ResourceMemory], n.Status.Capacity[corev1.ResourcePods]
	return fmt.Sprintf("addresses=%v podCIDR=%s hostname=%s cpu=%s memory=%s pods=%s kubelet=%s ready=%s",
		n.Status.Addresses, n.Spec.PodCIDR, n.Labels["kubernetes.io/hostname"], cpu.String(), mem.String(), pods.String(),
		n.Status.NodeInfo.KubeletVersion, ready)
}

func TestRegisterAndHeartbeat(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s, reg := newStatus(t, &now)
	ctx := context.Background()
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"register", func() error { return s.Register(ctx) },
			"addresses=[{InternalIP 10.0.0.2} {Hostname n1}] podCIDR=10.244.0.0/16 hostname=n1 cpu=2 memory=4Gi pods=110 kubelet=v1.32.11 ready=True/KubeletReady heartbeat=10:00:00 transition=10:00:00"},
		{"heartbeat keeps the transition time", func() error { now = now.Add(10 * time.Second); return s.report(ctx) },
			"addresses=[{InternalIP 10.0.0.2} {Hostname n1}] podCIDR=10.244.0.0/16 hostname=n1 cpu=2 memory=4Gi pods=110 kubelet=v1.32.11 ready=True/KubeletReady heartbeat=10:00:10 transition=10:00:00"},
		{"register again after a restart", func() error { now = now.Add(10 * time.Second); return s.Register(ctx) },
			"addresses=[{InternalIP 10.0.0.2} {Hostname n1}] podCIDR=10.244.0.0/16 hostname=n1 cpu=2 memory=4Gi pods=110 kubelet=v1.32.11 ready=True/KubeletReady heartbeat=10:00:20 transition=10:00:00"},
		{"a deleted Node comes back", func() error {
			if _, _, err := reg.Delete(ctx, apiresource.Nodes, "", "n1", metav1.DeleteOptions{}); err != nil {
				return err
			}
			now = now.Add(10 * time.Second)
			return s.report(ctx)
		}, "addresses=[{InternalIP 10.0.0.2} {Hostname n1}] podCIDR=10.244.0.0/16 hostname=n1 cpu=2 memory=4Gi pods=110 kubelet=v1.32.11 ready=True/KubeletReady heartbeat=10:00:30 transition=10:00:30"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := summary(getNode(t, reg)); got != st.want {
			t.Errorf("%s:\ngot  %s\nwant %s", st.name, got, st.want)
		}
	}
}

func TestHostParsers(t *testing.T) {
	tests := []struct {
		name, in string
		got      func(string) string
		want     string
	}{
		{"os-release", "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n", osImage, "Debian GNU/Linux 12 (bookworm)"},
		{"no os-release", "", osImage, "Linux"},
		{"meminfo", "MemTotal:       24615936 kB\nMemFree: 1 kB\n", func(s string) string { return fmt.Sprint(memTotal(s)) }, "25206718464"},
		{"no meminfo", "", func(s string) string { return fmt.Sprint(memTotal(s)) }, "0"},
	}
	for _, tc := range tests {
		if got := tc.got(tc.in); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// While the network plugins fail STATUS, the Node is not Ready, in kubelet's words.
func TestNetworkNotReady(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	s, reg := newStatus(t, &now)
	netErr := errors.New("netplug: range 10.244.0.0/24 is exhausted")
	s.cfg.NetworkReady = func(context.Context) error { return netErr }
	ctx := context.Background()
	if err := s.Register(ctx); err != nil {
		t.Fatal(err)
	}
	ready := func() string {
		for _, c := range getNode(t, reg).Status.Conditions {
			if c.Type == corev1.NodeReady {
				return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return ""
	}
	if got, want := ready(), "False KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: netplug: range 10.244.0.0/24 is exhausted"; got != want {
		t.Errorf("not ready:\ngot  %s\nwant %s", got, want)
	}
	netErr = nil
	now = now.Add(10 * time.Second)
	if err := s.report(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := ready(), "True KubeletReady: kubelet is posting ready status"; got != want {
		t.Errorf("ready again: got %s, want %s", got, want)
	}
}
