package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
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

// layOut writes what the kernel reads: each message's header (length, type, flags, sequence from
// 1, port 0) and data padded to 4 bytes, an ack asked of the last message before the batch's end
// only, every other ack and echo dropped.
func TestLayOut(t *testing.T) {
	msgs := []netlink.Message{
		{Header: netlink.Header{Type: 0x10, Flags: netlink.Request}, Data: []byte{1, 2}},
		{Header: netlink.Header{Type: 0xa06, Flags: netlink.Request | netlink.Acknowledge | netlink.Echo, Sequence: 77, PID: 9}, Data: []byte{3, 4, 5, 6}},
		{Header: netlink.Header{Type: 0xa0c, Flags: netlink.Request | netlink.Acknowledge}, Data: []byte{7}},
		{Header: netlink.Header{Type: 0x11, Flags: netlink.Request}, Data: []byte{8, 9}},
	}
	buf, ack := layOut(msgs)
	want := "" +
		"12000000 1000 0100 01000000 00000000 0102 0000 " +
		"14000000 060a 0100 02000000 00000000 03040506 " +
		"11000000 0c0a 0500 03000000 00000000 07 000000 " +
		"12000000 1100 0100 04000000 00000000 0809 0000"
	if got := fmt.Sprintf("%x", buf); got != strings.ReplaceAll(want, " ", "") || ack != 3 {
		t.Errorf("layOut = %s, ack %d\nwant     %s, ack 3", got, ack, strings.ReplaceAll(want, " ", ""))
	}
}

// layOut writes recorded messages (a whole batch, begin and end included) as encodeBatch
// does: the reference googleBatch lays google/nftables' messages out with.
func layOut(msgs []netlink.Message) (buf []byte, ackSeq uint32) {
	w := newMsgWriter(0)
	for i, m := range msgs {
		if i > 0 && i == len(msgs)-1 {
			ackSeq = w.ackLast()
		}
		w.message(m)
	}
	return w.buf, ackSeq
}
