package dns

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// cache keeps forwarded answers: positive (NOERROR with records) and negative (NXDOMAIN,
// NODATA) apart, each bounded; TTLs capped as CoreDNS's cache caps them and floored at 5 s;
// upstream SERVFAILs are kept 5 s. Hits are served with every TTL set to the time left.
type cache struct {
	mu         sync.Mutex
	pos, neg   map[cacheKey]*cacheItem
	size       int
	maxPos     time.Duration
	maxNeg     time.Duration
	now        func() time.Time
	hits, miss uint64
}

const (
	minCacheTTL = 5 * time.Second
	servfailTTL = 5 * time.Second
)

type cacheKey struct {
	name  string
	qtype uint16
	do    bool
}

type cacheItem struct {
	msg     *mdns.Msg // without OPT
	expires time.Time
	// replaced is set when the entry leaves the cache (replaced or evicted): replies made from
	// it are no longer what a lookup would serve.
	replaced atomic.Bool
}

func newCache(size int, maxPos, maxNeg time.Duration) *cache {
	return &cache{pos: map[cacheKey]*cacheItem{}, neg: map[cacheKey]*cacheItem{}, size: size, maxPos: maxPos, maxNeg: maxNeg, now: time.Now}
}

func keyOf(req *mdns.Msg) cacheKey {
	q := req.Question[0]
	do := false
	if o := req.IsEdns0(); o != nil {
		do = o.Do()
	}
	return cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, do: do}
}

// get returns a reply to req from the cache, or nil; with it the entry and the TTL served.
func (c *cache) get(req *mdns.Msg) (*mdns.Msg, *cacheItem, uint32) {
	k := keyOf(req)
	now := c.now()
	c.mu.Lock()
	it := c.pos[k]
	if it == nil {
		it = c.neg[k]
	}
	if it == nil || !now.Before(it.expires) {
		c.miss++
		c.mu.Unlock()
		return nil, nil, 0
	}
	c.hits++
	c.mu.Unlock()
	left := ttlLeft(it, now)
	m := it.msg.Copy()
	m.Id = req.Id
	m.Question = []mdns.Question{req.Question[0]}
	for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			rr.Header().Ttl = left
		}
	}
	return m, it, left
}

// put stores an upstream reply to req (which it copies) and caps the reply's TTLs to the
// cached duration.
func (c *cache) put(req, resp *mdns.Msg) {
	d, negative, ok := c.duration(resp)
	if !ok {
		return
	}
	ttl := uint32(d / time.Second)
	for _, sec := range [][]mdns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype != mdns.TypeOPT && rr.Header().Ttl > ttl {
				rr.Header().Ttl = ttl
			}
		}
	}
	m := resp.Copy()
	m.Extra = withoutOPT(m.Extra)
	k := keyOf(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	into := c.pos
	if negative {
		into = c.neg
	}
	if old, ok := into[k]; ok {
		old.replaced.Store(true)
	} else if len(into) >= c.size {
		for k, old := range into { // evict an arbitrary entry
			old.replaced.Store(true)
			delete(into, k)
			break
		}
	}
	// get prefers the positive entry of a key, so a new one there hides the negative one;
	// both are retired either way (a retired entry only sends its replies the long way).
	other := c.neg
	if negative {
		other = c.pos
	}
	if old, ok := other[k]; ok {
		old.replaced.Store(true)
	}
	into[k] = &cacheItem{msg: m, expires: c.now().Add(d)}
}

// duration is how long resp may be cached, whether it is negative, and whether at all.
func (c *cache) duration(resp *mdns.Msg) (time.Duration, bool, bool) {
	switch {
	case resp.Truncated:
		return 0, false, false
	case resp.Rcode == mdns.RcodeServerFailure:
		return servfailTTL, true, true
	case resp.Rcode == mdns.RcodeSuccess && len(resp.Answer) > 0:
		return clampTTL(minTTL(resp, false), c.maxPos), false, true
	case resp.Rcode == mdns.RcodeSuccess || resp.Rcode == mdns.RcodeNameError:
		return clampTTL(minTTL(resp, true), c.maxNeg), true, true
	}
	return 0, false, false
}

// minTTL is the smallest TTL of the reply's records (negative: of its SOA, bounded by the
// SOA's minimum); none: the floor.
func minTTL(m *mdns.Msg, negative bool) time.Duration {
	best := uint32(0)
	found := false
	consider := func(t uint32) {
		if !found || t < best {
			best, found = t, true
		}
	}
	if negative {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				consider(min(soa.Hdr.Ttl, soa.Minttl))
			}
		}
	} else {
		for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				if rr.Header().Rrtype != mdns.TypeOPT {
					consider(rr.Header().Ttl)
				}
			}
		}
	}
	if !found {
		return minCacheTTL
	}
	return time.Duration(best) * time.Second
}

func clampTTL(d, maxD time.Duration) time.Duration { return min(max(d, minCacheTTL), maxD) }

func withoutOPT(rrs []mdns.RR) []mdns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != mdns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}
