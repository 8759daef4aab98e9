package dns

import (
	"fmt"
	"testing"
)

// TestWireCacheBounds: the kept replies stay within their count and byte bounds, the bytes
// counted match what is held, and replies too large to keep are not.
func TestWireCacheBounds(t *testing.T) {
	w := newWireCache(100)
	held := func() int {
		n := 0
		for k, r := range w.m {
			n += len(k) + len(r.msg)
		}
		return n
	}
	for i := range 1000 {
		w.put([]byte(fmt.Sprintf("key-%d", i%300)), &wireReply{msg: make([]byte, 100+i%7)})
		if len(w.m) > 100 || w.bytes != held() {
			t.Fatalf("after %d puts: %d replies, %d bytes counted, %d held", i+1, len(w.m), w.bytes, held())
		}
	}
	w.put([]byte("big"), &wireReply{msg: make([]byte, wireMaxReply+1)})
	if w.get([]byte("big")) != nil {
		t.Error("a reply above wireMaxReply was kept")
	}
	big := newWireCache(1 << 20)
	for i := range 4000 {
		big.put([]byte(fmt.Sprintf("key-%d", i)), &wireReply{msg: make([]byte, wireMaxReply)})
	}
	if big.bytes > wireBudget || len(big.m) == 0 {
		t.Errorf("%d bytes held in %d replies, budget %d", big.bytes, len(big.m), wireBudget)
	}
	var none *wireCache
	none.put([]byte("k"), &wireReply{msg: []byte("m")})
	if none.get([]byte("k")) != nil {
		t.Error("a nil cache kept a reply")
	}
}
