package proxy

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"
)

func TestMergeElementCommands(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"runs merged per set, other lines kept in order",
			`add table ip podnet
add element ip podnet cluster-ips { 10.96.1.1 }
add element ip podnet cluster-ips { 10.96.1.2 }
add element ip podnet service-ips { 10.96.1.1 . tcp . 80 : goto svc-A-default/a/tcp/http }
add element ip podnet service-ips { 10.96.1.2 . tcp . 80 : goto svc-B-default/b/tcp/http }
add rule ip podnet services jump x
add element ip podnet cluster-ips { 10.96.1.3 }
`,
			`add table ip podnet
add element ip podnet cluster-ips { 10.96.1.1, 10.96.1.2 }
add element ip podnet service-ips { 10.96.1.1 . tcp . 80 : goto svc-A-default/a/tcp/http, 10.96.1.2 . tcp . 80 : goto svc-B-default/b/tcp/http }
add rule ip podnet services jump x
add element ip podnet cluster-ips { 10.96.1.3 }
`},
		{"deletes merged apart from adds",
			`delete element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
delete element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet hairpin { 10.244.0.7 . 10.244.0.7 }
`,
			`delete element ip podnet hairpin { 10.244.0.5 . 10.244.0.5, 10.244.0.6 . 10.244.0.6 }
add element ip podnet hairpin { 10.244.0.7 . 10.244.0.7 }
`},
		{"an element with braces of its own is left alone",
			`add element ip podnet s { { 1 } }
add element ip podnet s { 2 }
`,
			`add element ip podnet s { { 1 } }
add element ip podnet s { 2 }
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeElementCommands(tt.in); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// A transaction knftables refused (an invalid object) must fail without reaching nft.
func TestBatchingRefusesInvalidTransaction(t *testing.T) {
	b := &batchingNFT{Interface: knftables.NewFake(knftables.IPv4Family, "podnet"), nftPath: "/nonexistent/nft"}
	tx := b.NewTransaction()
	tx.Add(&knftables.Rule{Chain: "services"}) // a rule needs a body
	err := b.Run(context.Background(), tx)
	if err == nil || strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("Run = %v, want knftables' validation error", err)
	}
}
