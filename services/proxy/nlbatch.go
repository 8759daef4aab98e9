package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// RunFull sends a full sync to the kernel as one netlink batch instead of piping it to
// `nft -f`: at 10,000 services nft spends about 0.65 s parsing and evaluating the 70,000
// lines before the kernel sees them, the translation a few tens of milliseconds. The batch
// keeps the transaction's order and is atomic like nft's: the kernel swaps the old table for
// the new one at commit. A transaction with an operation the translator does not know goes
// through nft as before, and viaNFT says so.
func (b *batchingNFT) RunFull(ctx context.Context, tx *knftables.Transaction, ops []op) (viaNFT bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	qs, err := b.nl.translate(ops)
	if errors.Is(err, errUnsupported) {
		return true, b.Run(ctx, tx)
	}
	if err != nil {
		return false, err
	}
	msgs, err := marshalBatch(qs)
	if err != nil {
		return false, fmt.Errorf("netlink batch of %d operations: %w", len(ops), err)
	}
	if err := sendBatch(msgs); err != nil {
		return false, fmt.Errorf("netlink batch of %d operations: %w", len(ops), err)
	}
	return false, nil
}

// marshalBatch is the batch google/nftables would send for qs (begin, the messages, end),
// taken from a connection whose socket only records: its Flush cannot be used as it is for a
// batch of 100,000 messages, since it asks an ack of every message and an echo of every rule,
// which the kernel queues on the socket before any is read (hundreds of megabytes of receive
// buffer), and reads them one recvmsg each.
func marshalBatch(qs []nlOp) ([]netlink.Message, error) {
	var msgs []netlink.Message
	record := func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			msgs = append(msgs, req...)
			return nil, nil
		}
		// Flush reads an ack for every message it sent: a success (errno 0).
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}}, nil
	}
	c, err := gnft.New(gnft.WithTestDial(record))
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if err := q(c); err != nil {
			return nil, err
		}
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	if len(msgs) < 3 {
		return nil, fmt.Errorf("recorded batch of %d messages", len(msgs))
	}
	return msgs, nil
}

// replyTimeout bounds the wait for the kernel's answer. The kernel processes a batch inside
// the sendmsg that carries it, so its answer is queued by the time sendmsg returns: this only
// guards against waiting forever for a message that cannot come.
const replyTimeout = 10 * time.Second

// sendBatch sends a recorded batch on a one-shot socket in one sendmsg (the kernel takes a
// batch only whole, from one skb) and waits for its outcome. Only the batch's last message
// asks for an ack: nfnetlink reports every failed message anyway, before that ack, and the
// batch commits or aborts as a whole. No rule asks for an echo. The socket's send buffer is
// sized for the batch; its receive buffer holds the errors and the one ack.
func sendBatch(msgs []netlink.Message) error {
	buf, ackSeq := layOut(msgs)
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer conn.Close()
	if err := forceBuffers(conn, len(buf)+64<<10, 1<<20); err != nil {
		return err
	}
	if err := writeRaw(conn, buf); err != nil {
		return fmt.Errorf("send %d bytes: %w", len(buf), err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(replyTimeout)); err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	for {
		// Receive returns the kernel's error for a failed message or for the batch.
		replies, err := conn.Receive()
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error && r.Header.Sequence == ackSeq {
				return nil
			}
		}
	}
}

// layOut writes the batch as the kernel reads it, messages back to back in one buffer sized
// once, numbered from 1, with no ack or echo asked but of the last message before the batch's
// end, whose number it returns. The messages of 10,000 services make some 9 MB: marshalling
// them one by one into a growing buffer (netlink.Conn.SendMessages) cost about 0.1 s and as
// much again in garbage.
func layOut(msgs []netlink.Message) (buf []byte, ackSeq uint32) {
	size := 0
	for i := range msgs {
		size += nlmsgAlign(nlmsgHeaderLen + len(msgs[i].Data))
	}
	buf = make([]byte, 0, size)
	ackSeq = uint32(len(msgs) - 1)
	for i, m := range msgs {
		flags := m.Header.Flags &^ (netlink.Acknowledge | netlink.Echo)
		seq := uint32(i + 1)
		if seq == ackSeq {
			flags |= netlink.Acknowledge
		}
		l := nlmsgHeaderLen + len(m.Data)
		buf = binary.NativeEndian.AppendUint32(buf, uint32(l))
		buf = binary.NativeEndian.AppendUint16(buf, uint16(m.Header.Type))
		buf = binary.NativeEndian.AppendUint16(buf, uint16(flags))
		buf = binary.NativeEndian.AppendUint32(buf, seq)
		buf = binary.NativeEndian.AppendUint32(buf, 0) // the kernel fills in our port
		buf = append(buf, m.Data...)
		buf = append(buf, make([]byte, nlmsgAlign(l)-l)...)
	}
	return buf, ackSeq
}

// writeRaw sends buf in one write on conn's socket, to the kernel.
func writeRaw(conn *netlink.Conn, buf []byte) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = raw.Write(func(fd uintptr) bool {
		_, werr = unix.Write(int(fd), buf)
		return werr != unix.EAGAIN
	})
	return errors.Join(err, werr)
}

const nlmsgHeaderLen = 16

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }
