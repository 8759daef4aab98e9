package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"
)

var errNoUpstreams = errors.New("no upstream resolvers")

// exchanger sends one query to one upstream.
type exchanger interface {
	Exchange(m *mdns.Msg, address string) (*mdns.Msg, time.Duration, error)
}

// forwarder asks the upstreams in order: UDP first, TCP when the answer is truncated, the next
// upstream after an error or timeout.
type forwarder struct {
	upstreams []netip.AddrPort
	udp, tcp  exchanger
}

func newForwarder(ups []netip.AddrPort, timeout time.Duration) *forwarder {
	return &forwarder{
		upstreams: ups,
		udp:       &mdns.Client{Net: "udp", Timeout: timeout, UDPSize: mdns.DefaultMsgSize},
		tcp:       &mdns.Client{Net: "tcp", Timeout: timeout},
	}
}

// exchange forwards req (which it does not modify) and returns the first upstream answer.
func (f *forwarder) exchange(req *mdns.Msg) (*mdns.Msg, error) {
	q := req.Copy()
	q.Id = mdns.Id()
	if q.IsEdns0() == nil {
		q.SetEdns0(mdns.DefaultMsgSize, false)
	}
	var errs []error
	for _, u := range f.upstreams {
		addr := u.String()
		resp, _, err := f.udp.Exchange(q, addr)
		if err == nil && resp.Truncated {
			resp, _, err = f.tcp.Exchange(q, addr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", addr, err))
			continue
		}
		return resp, nil
	}
	if len(errs) == 0 {
		return nil, errNoUpstreams
	}
	return nil, errors.Join(errs...)
}
