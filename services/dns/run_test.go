package dns

import (
	"context"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/regtest"
)

// TestRunFollowsTheStore: through Run and a real registry, a new Service resolves and a
// deleted one is NXDOMAIN within a second.
func TestRunFollowsTheStore(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(Config{Registry: reg, NoForward: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	within := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		var got string
		for time.Now().Before(deadline) {
			if got = render(s.Answer(query("web.default.svc.cluster.local.", mdns.TypeA))); got[:len(want)] == want {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("not within 1s: got\n%s\nwant prefix\n%s", got, want)
	}
	within("NXDOMAIN aa\n")
	web := svc("default", "web", corev1.ServiceTypeClusterIP, []string{"10.96.0.20"}, port("http", corev1.ProtocolTCP, 80))
	if _, err := reg.Create(ctx, resource.Services, "default", web, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	within("NOERROR aa\nan web.default.svc.cluster.local. 5 IN A 10.96.0.20\n")
	if _, _, err := reg.Delete(ctx, resource.Services, "default", "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	within("NXDOMAIN aa\n")
}
