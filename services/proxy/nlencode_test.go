package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// googleBatch is the batch for qs laid out from google/nftables' messages alone (the reference
// encodeBatch must equal).
func googleBatch(t *testing.T, qs []nlOp) []byte {
	t.Helper()
	msgs, err := record(qs)
	if err != nil {
		t.Fatal(err)
	}
	control := func(typ netlink.HeaderType) netlink.Message {
		return netlink.Message{Header: netlink.Header{Type: typ, Flags: netlink.Request}, Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, unix.NFNL_SUBSYS_NFTABLES}}
	}
	msgs = append(append([]netlink.Message{control(unix.NFNL_MSG_BATCH_BEGIN)}, msgs...), control(unix.NFNL_MSG_BATCH_END))
	buf, _ := layOut(msgs)
	return buf
}

// TestEncodeMatchesGoogleNFTables: the batch a full sync writes itself is, byte for byte, the
// one google/nftables makes for the same operations, for every service shape and configuration
// the netlink path takes (and for a partial sync's element deletions), and the bulk of it (the
// service chains, rules and elements) is written by the encoder.
func TestEncodeMatchesGoogleNFTables(t *testing.T) {
	for _, tc := range fullSyncConfigs {
		if tc.viaNFT {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			p := everyShapeProxy(t, tc.family, tc.mod)
			ops := fullOps(p)
			qs, err := newNLTranslator(newFam(tc.family), "podnet").translate(ops)
			if err != nil {
				t.Fatal(err)
			}
			got, ack, err := encodeBatch(qs)
			if err != nil {
				t.Fatal(err)
			}
			want := googleBatch(t, qs)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded batch differs from google/nftables' from byte %d (%d and %d bytes)", firstDiff(got, want), len(got), len(want))
			}
			encoded := 0
			for _, q := range qs {
				if q.encode != nil {
					encoded++
				}
			}
			if encoded < len(qs)/2 {
				t.Errorf("%d of %d operations encoded, want most", encoded, len(qs))
			}
			if msgs := countMessages(t, got); ack != uint32(msgs-1) {
				t.Errorf("ack asked of message %d of %d, want the last before the batch's end", ack, msgs)
			}
		})
	}
	t.Run("element-deletions", func(t *testing.T) {
		p, _, _ := newTestProxy(t, nil)
		addServices(p, 3)
		mustSync(t, p)
		p.DeleteService("default", "svc1")
		qs, err := newNLTranslator(newFam(knftables.IPv4Family), "podnet").translate(partialOps(t, p))
		if err != nil {
			t.Fatal(err)
		}
		dels := 0
		for _, q := range qs {
			if q.encode != nil {
				dels++
			}
		}
		got, _, err := encodeBatch(qs)
		if err != nil {
			t.Fatal(err)
		}
		if want := googleBatch(t, qs); !bytes.Equal(got, want) || dels == 0 {
			t.Fatalf("encoded batch (%d operations encoded) differs from google/nftables' from byte %d", dels, firstDiff(got, want))
		}
	})
}

// TestEncodeExprs: each expression the encoder writes itself, as google/nftables marshals it.
func TestEncodeExprs(t *testing.T) {
	for _, e := range []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{6}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 9, Data: []byte{10, 0, 0, 1, 0, 80}},
		&expr.Numgen{Register: 1, Modulus: 3, Type: unix.NFT_NG_RANDOM},
		&expr.Numgen{Register: 2, Modulus: 7, Type: unix.NFT_NG_INCREMENTAL, Offset: 1},
		&expr.Immediate{Register: 1, Data: []byte{10, 244, 0, 7}},
		&expr.Immediate{Register: 2, Data: []byte{0x1f, 0x90}},
		&expr.Verdict{Kind: expr.VerdictGoto, Chain: "svc-abc"},
		&expr.Verdict{Kind: expr.VerdictDrop},
		&expr.Verdict{Kind: expr.VerdictReturn},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV6, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 2, RegProtoMax: 2},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, Random: true, FullyRandom: true, Persistent: true, Prefix: true},
		&expr.Masq{ToPorts: false, FullyRandom: true},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
	} {
		t.Run(fmt.Sprintf("%T", e), func(t *testing.T) {
			w := newMsgWriter(0)
			if err := encodeExpr(w, unix.NFPROTO_IPV4, e); err != nil {
				t.Fatal(err)
			}
			want, err := expr.Marshal(unix.NFPROTO_IPV4, e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.buf, want) {
				t.Errorf("%+v:\ngot  %x\nwant %x", e, w.buf, want)
			}
		})
	}
	if err := encodeExpr(newMsgWriter(0), unix.NFPROTO_IPV4, &expr.Numgen{Type: 9}); err == nil {
		t.Error("numgen of an unknown type encoded")
	}
	big := []nlOp{{encode: func(w *msgWriter) error {
		return encodeRule(w, unix.NFPROTO_IPV4, "podnet", "x", []expr.Any{&expr.Immediate{Register: 1, Data: make([]byte, 70000)}})
	}}}
	if _, _, err := encodeBatch(big); err == nil {
		t.Error("a rule longer than an attribute can say was encoded")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// countMessages walks a laid-out batch by its length fields and checks they tile it.
func countMessages(t *testing.T, buf []byte) int {
	t.Helper()
	n := 0
	for off := 0; off < len(buf); n++ {
		l := int(binary.NativeEndian.Uint32(buf[off:]))
		if l < 16 || off+l > len(buf) {
			t.Fatalf("message %d at %d: length %d in a batch of %d bytes", n, off, l, len(buf))
		}
		off += (l + 3) &^ 3
	}
	return n
}

// withCPUs runs the rest of the test with GOMAXPROCS n, so that the work shared among the CPUs
// is shared on any machine.
func withCPUs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// TestTranslateInParallel: a full sync translated in parts gives the batch translate gives,
// cut between element runs (set and map elements of 3,000 services make runs of thousands).
func TestTranslateInParallel(t *testing.T) {
	withCPUs(t, 4)
	p, _, _ := newTestProxy(t, nil)
	addServices(p, 3000)
	ops := fullOps(p)
	tr := newNLTranslator(newFam(knftables.IPv4Family), "podnet")
	seq, err := tr.translate(ops)
	if err != nil {
		t.Fatal(err)
	}
	par, err := tr.translateInParallel(ops)
	if err != nil {
		t.Fatal(err)
	}
	// Operation by operation: the sets' batch ids, which google/nftables hands out as it
	// queues them, differ between two translations.
	if len(par) != len(seq) {
		t.Fatalf("in parallel: %d operations; in sequence: %d", len(par), len(seq))
	}
	encoded := 0
	for i := range seq {
		if (seq[i].encode == nil) != (par[i].encode == nil) {
			t.Fatalf("operation %d: encoded in one translation only", i)
		}
		if seq[i].encode == nil {
			continue
		}
		encoded++
		ws, wp := newMsgWriter(0), newMsgWriter(0)
		if err := errors.Join(seq[i].encode(ws), par[i].encode(wp)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ws.buf, wp.buf) {
			t.Fatalf("operation %d: in parallel %x\nin sequence %x", i, wp.buf, ws.buf)
		}
	}
	if encoded < len(seq)/2 {
		t.Errorf("%d of %d operations compared", encoded, len(seq))
	}
	bad := append(slices.Clone(ops), op{verbAdd, &knftables.Rule{Chain: "x", Rule: "counter"}})
	if _, err := tr.translateInParallel(bad); !errors.Is(err, errUnsupported) {
		t.Errorf("an untranslatable last operation: got %v, want errUnsupported", err)
	}
}

// TestModelAllInParallel: the models made in parallel for a full sync are the ones made one by one.
func TestModelAllInParallel(t *testing.T) {
	withCPUs(t, 4)
	p, _, _ := newTestProxy(t, nil)
	addServices(p, 1000)
	p.mu.Lock()
	defer p.mu.Unlock()
	got := p.modelAllLocked()
	keys := sortedNames(p.services)
	if len(got) != len(keys) {
		t.Fatalf("%d models for %d services", len(got), len(keys))
	}
	for i, k := range keys {
		if got[i].key != k || !reflect.DeepEqual(got[i].new, p.modelLocked(k)) {
			t.Fatalf("model %d: %s %+v, want %s %+v", i, got[i].key, got[i].new, k, p.modelLocked(k))
		}
	}
}
