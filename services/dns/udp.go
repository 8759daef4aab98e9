package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// udpServer serves one of the SO_REUSEPORT UDP sockets. One goroutine reads the socket and
// answers questions the snapshot has a kept reply for on the spot (no goroutine, no unpacking);
// every other request is answered in a goroutine of its own, as miekg/dns's server does (a
// forwarded name may wait for the upstreams), with miekg's checks and replies.
type udpServer struct {
	s        *Server
	conn     *net.UDPConn
	inflight sync.WaitGroup
	done     chan struct{}
}

func newUDPServer(s *Server, c *net.UDPConn) *udpServer {
	return &udpServer{s: s, conn: c, done: make(chan struct{})}
}

func (u *udpServer) network() string { return "udp" }
func (u *udpServer) close()          { u.conn.Close() }

// headerSize is a DNS header's: shorter packets are dropped, as miekg/dns drops them.
const headerSize = 12

// udpBatch is how many datagrams one recvmmsg takes and one sendmmsg sends: under load the
// socket holds several queries whenever the loop comes back to it, and a syscall (with the Go
// scheduler's work around it) per datagram costs more than the answer from a kept reply.
const udpBatch = 32

// udpBufSize is each datagram's buffer: the largest UDP payload, as miekg/dns's server reads
// with. Only the pages a datagram touches become resident.
const udpBufSize = 65535

func (u *udpServer) serve() error {
	defer close(u.done)
	mc, err := newMmsgConn(u.conn, udpBatch, udpBufSize)
	if err != nil {
		return err
	}
	// The requests still being answered hold copies of their packets, not the buffers.
	defer mc.close()
	replies := make([][]byte, udpBatch) // reused batch after batch
	fail := func(err error) { u.s.cfg.Logger.Debug("dns write failed", "err", err) }
	for {
		n, err := mc.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		start := time.Now()
		k := 0
		for i := range n {
			pkt := mc.packet(i)
			if reply, r := u.s.fromWire(pkt, replies[k]); r != nil {
				replies[k] = reply
				mc.setReply(k, i, reply)
				k++
				u.s.metrics.observe(r.qtype, r.rcode, time.Since(start))
				continue
			}
			from, ok := mc.from(i)
			if len(pkt) < headerSize || !ok {
				continue
			}
			p := bytes.Clone(pkt)
			u.inflight.Add(1)
			go func() {
				defer u.inflight.Done()
				u.serveFull(p, from, start)
			}()
		}
		if err := mc.send(k, fail); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// serveFull answers one request the long way: miekg/dns's acceptance checks and FORMERR/NOTIMP
// replies, then handle, then the reply is kept when it may be.
func (u *udpServer) serveFull(pkt []byte, from netip.AddrPort, start time.Time) {
	dh := mdns.Header{
		Id: binary.BigEndian.Uint16(pkt), Bits: binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]), Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]), Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	req := new(mdns.Msg)
	switch action := mdns.DefaultMsgAcceptFunc(dh); action {
	case mdns.MsgAccept:
		if err := req.Unpack(pkt); err == nil {
			break
		}
		u.reject(req, action, from)
		return
	case mdns.MsgReject, mdns.MsgRejectNotImplemented:
		_ = req.Unpack(pkt[:headerSize]) // the header alone, as miekg/dns replies from
		u.reject(req, action, from)
		return
	default: // MsgIgnore
		return
	}
	var o origin
	resp := u.s.handle(req, true, &o)
	wire, err := resp.Pack()
	if err != nil {
		u.s.cfg.Logger.Debug("dns write failed", "err", err)
	} else {
		if _, err := u.conn.WriteToUDPAddrPort(wire, from); err != nil {
			u.s.cfg.Logger.Debug("dns write failed", "err", err)
		}
		u.s.keep(pkt, wire, &o, req.Question[0].Qtype, resp.Rcode)
	}
	u.s.metrics.observe(req.Question[0].Qtype, resp.Rcode, time.Since(start))
}

// reject sends miekg/dns's reply to a request it does not accept: FORMERR, or NOTIMP for
// other opcodes, with no records.
func (u *udpServer) reject(req *mdns.Msg, action mdns.MsgAcceptAction, to netip.AddrPort) {
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == mdns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = mdns.RcodeNotImplemented
	}
	req.Ns, req.Answer, req.Extra = nil, nil, nil
	if wire, err := req.Pack(); err == nil {
		_, _ = u.conn.WriteToUDPAddrPort(wire, to)
	}
}

// shutdown closes the socket and waits for the requests being answered.
func (u *udpServer) shutdown(ctx context.Context) error {
	u.conn.Close()
	finished := make(chan struct{})
	go func() {
		<-u.done
		u.inflight.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
