package integration

import (
	"context"
	"net"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podnet/podnet/integration/harness"
)

// restConfig reads the node's kubeconfig and dials from inside the node's network namespace: a
// socket belongs to the namespace of the thread that made it, so each dial runs on a thread
// that has entered it.
func restConfig(t *testing.T, n *harness.Node) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", n.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := n.InNodeNS(func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	return cfg
}

func clientset(t *testing.T, n *harness.Node) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig(t, n))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
