package harness

import (
	"fmt"
	"strings"
)

// Corefile is the configuration of the CoreDNS that tests and benchmarks compare podnet's DNS
// with: kubeadm's default server block cut to what answers names, its kubernetes plugin reading
// podnet's API through kubeconfig (pods verified, fallthrough for the reverse zones, ttl 5, the
// same answers as podnet's defaults), and, when forward is set, forward and cache 30. kubeadm's
// health, ready, prometheus, loop, reload and loadbalance are left out: each would cost CoreDNS,
// not podnet, per query or in memory.
type Corefile struct {
	Bind       string // address to answer on
	Port       int
	Kubeconfig string
	Forward    string // upstream for other names; none when empty
}

func (c Corefile) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `.:%d {
    bind %s
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods verified
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
`, c.Port, c.Bind, c.Kubeconfig)
	if c.Forward != "" {
		fmt.Fprintf(&b, "    forward . %s\n    cache 30\n", c.Forward)
	}
	b.WriteString("}\n")
	return b.String()
}
