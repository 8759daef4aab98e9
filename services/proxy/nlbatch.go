package proxy

import (
	"context"
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
	size := 0
	for i := range msgs {
		h := &msgs[i].Header
		h.Flags &^= netlink.Acknowledge | netlink.Echo
		h.Sequence, h.PID = 0, 0
		size += nlmsgAlign(nlmsgHeaderLen + len(msgs[i].Data))
	}
	msgs[len(msgs)-2].Header.Flags |= netlink.Acknowledge
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer conn.Close()
	if err := forceBuffers(conn, size+64<<10, 1<<20); err != nil {
		return err
	}
	sent, err := conn.SendMessages(msgs)
	if err != nil {
		return fmt.Errorf("send %d bytes: %w", size, err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(replyTimeout)); err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	last := sent[len(sent)-2].Header.Sequence
	for {
		replies, err := conn.Receive()
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error && r.Header.Sequence == last {
				return nil
			}
		}
	}
}

const nlmsgHeaderLen = 16

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }
