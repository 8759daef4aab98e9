package node

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResolvConf(t *testing.T) {
	cfg := DNSConfig{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local",
		HostResolvConf: "# generated\nsearch corp.example\nnameserver 192.0.2.53\noptions edns0\n"}
	two := "2"
	cases := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"ClusterFirst (default)", corev1.PodSpec{},
			"search web.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{"Default", corev1.PodSpec{DNSPolicy: corev1.DNSDefault},
			"search corp.example\nnameserver 192.0.2.53\noptions edns0\n"},
		{"ClusterFirst on host network is Default", corev1.PodSpec{HostNetwork: true},
			"search corp.example\nnameserver 192.0.2.53\noptions edns0\n"},
		{"None with dnsConfig", corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}, {Name: "edns0"}}}},
			"search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"},
		{"ClusterFirst merged with dnsConfig", corev1.PodSpec{DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"10.96.0.10", "9.9.9.9"}, Searches: []string{"x.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}},
			"search web.svc.cluster.local svc.cluster.local cluster.local corp.example x.example\nnameserver 10.96.0.10\nnameserver 9.9.9.9\noptions ndots:2\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "web"}, Spec: tc.spec}
			if got := resolvConfFor(pod, cfg); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	const head = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
	cases := []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"plain", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nginx", Namespace: "default"}},
			head + "10.244.0.5\tnginx\n"},
		{"hostname and subdomain", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "db"},
			Spec: corev1.PodSpec{Hostname: "pg-0", Subdomain: "pg"}},
			head + "10.244.0.5\tpg-0.pg.db.svc.cluster.local\tpg-0\n"},
		{"host aliases", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{HostAliases: []corev1.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}}},
			head + "10.244.0.5\tp\n\n# Entries added by HostAliases.\n192.0.2.1\tfoo.local\tbar.local\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hostsFileFor(&tc.pod, []string{"10.244.0.5"}, podHostname(&tc.pod), "cluster.local"); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
