package harness

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

var pingSeq atomic.Uint32

// PingFromNode sends one ICMP echo from the node's namespace and waits up to 2 s for the reply.
func (nw *Network) PingFromNode(dst netip.Addr) error { return ping(nw.NodeNSPath(), dst) }

// PingFromClient sends one ICMP echo from the client's namespace.
func (nw *Network) PingFromClient(dst netip.Addr) error { return ping(nw.ClientNSPath(), dst) }

// ping speaks ICMP itself over a raw socket rather than running ping(8), which Debian's minimal
// images lack.
func ping(nsPath string, dst netip.Addr) error {
	if !dst.Is4() {
		return fmt.Errorf("ping %s: only IPv4 is supported", dst)
	}
	var conn net.PacketConn
	err := inNetns(nsPath, func() error {
		var err error
		conn, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("ping %s: opening ICMP socket: %w", dst, err)
	}
	defer conn.Close()
	id, seq := uint16(os.Getpid()), uint16(pingSeq.Add(1))
	if _, err := conn.WriteTo(echoRequest(id, seq), &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("ping %s: %w", dst, err)
	}
	return awaitEchoReply(conn, dst, id, seq)
}

func awaitEchoReply(conn net.PacketConn, dst netip.Addr, id, seq uint16) error {
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return fmt.Errorf("ping %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %s: no reply: %w", dst, err)
		}
		if isEchoReply(buf[:n], id, seq) && from.String() == dst.String() {
			return nil
		}
	}
}

// echoRequest builds an ICMP echo request (type 8) with a short payload.
func echoRequest(id, seq uint16) []byte {
	msg := []byte{8, 0, 0, 0, 0, 0, 0, 0, 'p', 'o', 'd', 'n', 'e', 't'}
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	return msg
}

// isEchoReply matches an echo reply (type 0) to our request. Go strips the IPv4 header from
// reads on ip4 sockets, so msg starts at the ICMP header.
func isEchoReply(msg []byte, id, seq uint16) bool {
	if len(msg) < 8 || msg[0] != 0 || msg[1] != 0 {
		return false
	}
	return binary.BigEndian.Uint16(msg[4:]) == id && binary.BigEndian.Uint16(msg[6:]) == seq
}

// icmpChecksum is the Internet checksum (RFC 1071) over msg.
func icmpChecksum(msg []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(msg); i += 2 {
		sum += uint32(msg[i])<<8 | uint32(msg[i+1])
	}
	if len(msg)%2 == 1 {
		sum += uint32(msg[len(msg)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
