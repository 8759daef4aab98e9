package harness

import "testing"

func TestCorefile(t *testing.T) {
	for _, tc := range []struct {
		c    Corefile
		want string
	}{
		{Corefile{Bind: "127.0.0.1", Port: 1053, Kubeconfig: "/k"}, `.:1053 {
    bind 127.0.0.1
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig /k
        pods verified
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
}
`},
		{Corefile{Bind: "10.250.0.1", Port: 1053, Kubeconfig: "/k", Forward: "10.250.1.2"}, `.:1053 {
    bind 10.250.0.1
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig /k
        pods verified
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    forward . 10.250.1.2
    cache 30
}
`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Corefile:\n%s\nwant:\n%s", got, tc.want)
		}
	}
}
