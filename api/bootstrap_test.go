package api

import (
	"context"
	"net/netip"
	"testing"
)

func TestBootstrap(t *testing.T) {
	e := newEnv(t, envOptions{}) // newEnv bootstraps once
	rv := e.store.ResourceVersion()
	// A second start changes nothing.
	if err := Bootstrap(context.Background(), e.reg, BootstrapConfig{ServiceIP: netip.MustParseAddr("10.96.0.1"),
		EndpointIP: netip.MustParseAddr("192.0.2.10"), EndpointPort: 6443}); err != nil {
		t.Fatal(err)
	}
	if got := e.store.ResourceVersion(); got != rv {
		t.Errorf("second bootstrap wrote: resourceVersion %d -> %d", rv, got)
	}
	tests := []struct {
		path, want string
	}{
		{"/api/v1/namespaces", "default,kube-node-lease,kube-public,kube-system"},
		{"/api/v1/services", "kubernetes"},
	}
	for _, tt := range tests {
		if got := names(t, e.must(200, "GET", tt.path, "").body); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.path, got, tt.want)
		}
	}
	objects := []struct {
		path, want string
	}{
		{"/api/v1/namespaces/default/services/kubernetes",
			`{"kind":"Service","apiVersion":"v1","metadata":{"name":"kubernetes","namespace":"default","uid":"UID","resourceVersion":"5","creationTimestamp":"2025-03-01T12:00:00Z","labels":{"component":"apiserver","provider":"kubernetes"}},"spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":6443}],"clusterIP":"10.96.0.1","clusterIPs":["10.96.0.1"],"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}`},
		{"/api/v1/namespaces/default/endpoints/kubernetes",
			`{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"kubernetes","namespace":"default","uid":"UID","resourceVersion":"6","creationTimestamp":"2025-03-01T12:00:00Z","labels":{"endpointslice.kubernetes.io/skip-mirror":"true"}},"subsets":[{"addresses":[{"ip":"192.0.2.10"}],"ports":[{"name":"https","port":6443,"protocol":"TCP"}]}]}`},
		{"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes",
			`{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"kubernetes","namespace":"default","uid":"UID","resourceVersion":"7","creationTimestamp":"2025-03-01T12:00:00Z","labels":{"kubernetes.io/service-name":"kubernetes"}},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.10"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":6443}]}`},
	}
	for _, o := range objects {
		if got := scrubUIDs(e.must(200, "GET", o.path, "").body); got != o.want {
			t.Errorf("%s:\n got %s\nwant %s", o.path, got, o.want)
		}
	}
}

func TestBootstrapFollowsNodeIP(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := Bootstrap(context.Background(), e.reg, BootstrapConfig{ServiceIP: netip.MustParseAddr("10.96.0.1"),
		EndpointIP: netip.MustParseAddr("192.0.2.99"), EndpointPort: 6443}); err != nil {
		t.Fatal(err)
	}
	ep := e.must(200, "GET", "/api/v1/namespaces/default/endpoints/kubernetes", "").body
	if want := `"addresses":[{"ip":"192.0.2.99"}]`; !contains(ep, want) {
		t.Errorf("endpoints after the node IP changed: %s, want %s", ep, want)
	}
}
