package dns

import (
	"encoding/binary"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// The reply cache: the packed replies to UDP questions already answered, keyed by the request's
// bytes after its ID, so that a question asked again costs a map lookup and a copy instead of
// unpacking, answering and packing. A reply is kept only when it is a function of those bytes
// and of what the server held when it was made: the index snapshot (each snapshot has a cache
// of its own, so that any write to the index empties it) and, for forwarded names, the cache
// entry it came from (served only while that entry is the one a lookup would find, with the
// records' TTLs rewritten to the seconds the entry has left, as a lookup would set them).
// Replies that used the upstreams (a cache miss, an ExternalName chased outside the zone) or
// failed are not kept.

// origin is what a reply was made from.
type origin struct {
	snap  *snapshot
	item  *cacheItem // the forwarding cache entry served, if any
	left  uint32     // the TTL it was served with
	fixed bool       // the reply depends on nothing else: it may be kept
}

// wireReply is a kept reply.
type wireReply struct {
	msg   []byte // packed, ID as the request that made it had it
	qtype uint16 // for the metrics
	rcode int
	item  *cacheItem
	left  uint32
	// ttls are the offsets in msg of every record's TTL but the OPT's: a reply from the cache
	// has them all at the TTL left, so a later second's reply differs from this one only there.
	ttls []int
}

// wireCache holds one snapshot's kept replies: at most size of them, and at most wireBudget
// bytes of requests and replies, so that clients asking for large answers in many spellings
// (EDNS sizes, cookies, letter case) cannot make it grow without bound.
type wireCache struct {
	mu    sync.RWMutex
	m     map[string]*wireReply
	size  int
	bytes int
}

const (
	wireBudget   = 8 << 20
	wireMaxReply = 4096 // larger replies (rare) are answered in full every time
)

func newWireCache(size int) *wireCache {
	if size <= 0 {
		return nil
	}
	return &wireCache{m: map[string]*wireReply{}, size: size}
}

// get is the reply kept for the request bytes key (the request without its ID), or nil.
func (w *wireCache) get(key []byte) *wireReply {
	if w == nil {
		return nil
	}
	w.mu.RLock()
	r := w.m[string(key)]
	w.mu.RUnlock()
	return r
}

// put keeps r for key, evicting arbitrary replies while it would not fit.
func (w *wireCache) put(key []byte, r *wireReply) {
	if w == nil || len(r.msg) > wireMaxReply {
		return
	}
	cost := len(key) + len(r.msg)
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.m[string(key)]; ok {
		w.bytes -= len(key) + len(old.msg)
		delete(w.m, string(key))
	}
	for k, old := range w.m {
		if len(w.m) < w.size && w.bytes+cost <= wireBudget {
			break
		}
		w.bytes -= len(k) + len(old.msg)
		delete(w.m, k)
	}
	w.m[string(key)] = r
	w.bytes += cost
}

// fromWire answers the UDP request pkt from the snapshot's kept replies into out (reused),
// or returns nil when it has to be answered in full.
func (s *Server) fromWire(pkt, out []byte) ([]byte, *wireReply) {
	// A response (QR set) is ignored by the full path; so is anything shorter than a header.
	if len(pkt) < 12 || pkt[2]&0x80 != 0 {
		return nil, nil
	}
	r := s.index.snapshot().wire.get(pkt[2:])
	if r == nil {
		return nil, nil
	}
	left := r.left
	if r.item != nil {
		if s.cache == nil || s.loop.detected.Load() || r.item.replaced.Load() {
			return nil, nil
		}
		now := s.cache.now()
		if !now.Before(r.item.expires) {
			return nil, nil
		}
		left = ttlLeft(r.item, now)
	}
	out = append(out[:0], r.msg...)
	out[0], out[1] = pkt[0], pkt[1]
	if left != r.left {
		for _, off := range r.ttls {
			binary.BigEndian.PutUint32(out[off:], left)
		}
	}
	return out, r
}

// keep stores the packed reply wire to the UDP request pkt when o says it may be kept.
func (s *Server) keep(pkt, wire []byte, o *origin, qtype uint16, rcode int) {
	if !o.fixed || o.snap == nil || len(pkt) < 12 {
		return
	}
	r := &wireReply{msg: wire, qtype: qtype, rcode: rcode, item: o.item, left: o.left}
	if o.item != nil {
		ttls, ok := ttlOffsets(wire)
		if !ok {
			return
		}
		r.ttls = ttls
	}
	o.snap.wire.put(pkt[2:], r)
}

// ttlOffsets finds the TTL of every record of a packed message but the OPT's; ok is false when
// the message does not parse.
func ttlOffsets(msg []byte) (offs []int, ok bool) {
	if len(msg) < headerSize {
		return nil, false
	}
	u16 := func(off int) int { return int(binary.BigEndian.Uint16(msg[off:])) }
	qd, rrs := u16(4), u16(6)+u16(8)+u16(10)
	off := headerSize
	for range qd {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return nil, false
		}
		off += 4
	}
	for range rrs {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return nil, false
		}
		if uint16(u16(off)) != mdns.TypeOPT {
			offs = append(offs, off+4)
		}
		off += 10 + u16(off+8)
	}
	return offs, off == len(msg)
}

// skipName is the offset after the (possibly compressed) domain name at off, or -1.
func skipName(msg []byte, off int) int {
	for off < len(msg) {
		switch l := int(msg[off]); {
		case l == 0:
			return off + 1
		case l&0xc0 == 0xc0: // a pointer ends the name
			if off+2 > len(msg) {
				return -1
			}
			return off + 2
		case l&0xc0 != 0:
			return -1
		default:
			off += 1 + l
		}
	}
	return -1
}

// ttlLeft is the TTL a cache hit is served with at now: the whole seconds left, rounded up.
func ttlLeft(it *cacheItem, now time.Time) uint32 {
	return uint32((it.expires.Sub(now) + time.Second - 1) / time.Second) // #nosec G115 -- bounded by the max TTLs
}
