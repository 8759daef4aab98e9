package dns

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// loopGuard detects a forwarding loop as CoreDNS's loop plugin does: at start a HINFO query for
// a random name is sent through the upstreams; if it arrives back at this server, an upstream
// forwards to us, and forwarding stops.
type loopGuard struct {
	name     string // lower case, fqdn
	detected atomic.Bool
}

func newLoopGuard() (*loopGuard, error) {
	a, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, fmt.Errorf("loop probe name: %w", err)
	}
	b, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, fmt.Errorf("loop probe name: %w", err)
	}
	return &loopGuard{name: a.String() + "." + b.String() + "."}, nil
}

// isProbe says whether req is our own probe come back; it then records the loop.
func (g *loopGuard) isProbe(req *mdns.Msg) bool {
	q := req.Question[0]
	if q.Qtype != mdns.TypeHINFO || !strings.EqualFold(q.Name, g.name) {
		return false
	}
	g.detected.Store(true)
	return true
}

// probe sends the probe through f up to tries times, a second apart, until an upstream
// answers or a loop shows; it reports whether a loop was seen.
func (g *loopGuard) probe(f *forwarder, tries int, stop <-chan struct{}) bool {
	for range tries {
		m := new(mdns.Msg)
		m.SetQuestion(g.name, mdns.TypeHINFO)
		_, err := f.exchange(m)
		if g.detected.Load() {
			return true
		}
		if err == nil {
			return false
		}
		select {
		case <-stop:
			return g.detected.Load()
		case <-time.After(time.Second):
		}
	}
	return g.detected.Load()
}
