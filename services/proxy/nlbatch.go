package proxy

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// RunFull sends a full sync to the kernel as one netlink batch instead of piping it to
// `nft -f`: at 10,000 services nft spends about 0.65 s parsing and evaluating the 70,000
// lines before the kernel sees them; translating and encoding them takes some 60 ms here,
// shared among the CPUs. What is left is the kernel's: about 0.4 s for 10,000 chains, 20,000
// rules and 40,000 elements, a third of it finding each expression's type by name
// (__nft_expr_type_get walks the list of every registered type for each one). The batch
// keeps the transaction's order and is atomic like nft's: the kernel swaps the old table for
// the new one at commit. A transaction with an operation the translator does not know goes
// through nft as before, and viaNFT says so.
func (b *batchingNFT) RunFull(ctx context.Context, ops []op) (viaNFT bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	qs, err := b.nl.translateInParallel(ops)
	if errors.Is(err, errUnsupported) {
		return true, b.Run(ctx, transaction(b, ops))
	}
	if err != nil {
		return false, err
	}
	buf, ackSeq, err := encodeBatch(qs)
	if err != nil {
		return false, fmt.Errorf("netlink batch of %d operations: %w", len(ops), err)
	}
	if err := sendBatch(buf, ackSeq); err != nil {
		return false, fmt.Errorf("netlink batch of %d operations: %w", len(ops), err)
	}
	return false, nil
}

// translateInParallel is translate of a full sync's operations, shared among the CPUs in
// consecutive parts, each cut where no run of elements continues, so that the result is
// translate's.
func (t *nlTranslator) translateInParallel(ops []op) ([]nlOp, error) {
	var cuts []int
	parts := min(runtime.GOMAXPROCS(0), len(ops)/1024+1)
	for i := 1; i < parts; i++ {
		c := max(i*len(ops)/parts, 1)
		for c < len(ops) && sameElementRun(ops[c-1], ops[c]) {
			c++
		}
		cuts = append(cuts, c)
	}
	cuts = append(cuts, len(ops))
	qs := make([][]nlOp, len(cuts))
	errs := make([]error, len(cuts))
	inParallel(len(cuts), func(i int) {
		from := 0
		if i > 0 {
			from = cuts[i-1]
		}
		qs[i], errs[i] = t.translate(ops[from:cuts[i]])
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(qs...), nil
}

// sameElementRun says whether b continues a's run of element operations (one message).
func sameElementRun(a, b op) bool {
	ea, okA := a.obj.(*knftables.Element)
	eb, okB := b.obj.(*knftables.Element)
	return okA && okB && a.verb == b.verb && ea.Set+ea.Map == eb.Set+eb.Map
}

// encodeBatch lays out the batch for qs (begin, the messages, end) as the kernel reads it: the
// operations that encode themselves write their message; runs of the others (the table, the
// sets and maps, the base chains) are recorded from google/nftables between them. It returns
// the number of the one message that asks for an ack.
func encodeBatch(qs []nlOp) (buf []byte, ackSeq uint32, err error) {
	// Some 280 bytes a message at 10,000 services: one allocation of about the right size
	// instead of a buffer doubled up to 9 MB.
	w := newMsgWriter(64<<10 + 320*len(qs))
	w.control(unix.NFNL_MSG_BATCH_BEGIN)
	var pending []nlOp
	for i, q := range qs {
		if q.encode == nil {
			pending = append(pending, q)
			continue
		}
		if err := recordInto(w, pending); err != nil {
			return nil, 0, err
		}
		pending = pending[:0]
		if err := q.encode(w); err != nil {
			return nil, 0, fmt.Errorf("operation %d: %w", i, err)
		}
	}
	if err := recordInto(w, pending); err != nil {
		return nil, 0, err
	}
	if w.err != nil {
		return nil, 0, w.err
	}
	if w.seq < 2 {
		return nil, 0, fmt.Errorf("empty batch")
	}
	ackSeq = w.ackLast()
	w.control(unix.NFNL_MSG_BATCH_END)
	return w.buf, ackSeq, nil
}

// recordInto writes the messages google/nftables makes for qs.
func recordInto(w *msgWriter, qs []nlOp) error {
	if len(qs) == 0 {
		return nil
	}
	msgs, err := record(qs)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		w.message(m)
	}
	return nil
}

// record is the messages google/nftables would send for qs, without the batch's begin and end,
// taken from a connection whose socket only records: its Flush cannot be used as it is for a
// batch of 100,000 messages, since it asks an ack of every message and an echo of every rule,
// which the kernel queues on the socket before any is read (hundreds of megabytes of receive
// buffer), and reads them one recvmsg each.
func record(qs []nlOp) ([]netlink.Message, error) {
	var msgs []netlink.Message
	rec := func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			msgs = append(msgs, req...)
			return nil, nil
		}
		// Flush reads an ack for every message it sent: a success (errno 0).
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}}, nil
	}
	c, err := gnft.New(gnft.WithTestDial(rec))
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if err := q.queue(c); err != nil {
			return nil, err
		}
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	if len(msgs) < 3 {
		return nil, fmt.Errorf("recorded batch of %d messages", len(msgs))
	}
	return msgs[1 : len(msgs)-1], nil
}

// replyTimeout bounds the wait for the kernel's answer. The kernel processes a batch inside
// the sendmsg that carries it, so its answer is queued by the time sendmsg returns: this only
// guards against waiting forever for a message that cannot come.
const replyTimeout = 10 * time.Second

// sendBatch sends a batch laid out by encodeBatch on a one-shot socket in one sendmsg (the
// kernel takes a batch only whole, from one skb) and waits for its outcome. Only message ackSeq
// asks for an ack: nfnetlink reports every failed message anyway, before that ack, and the
// batch commits or aborts as a whole. No rule asks for an echo. The socket's send buffer is
// sized for the batch; its receive buffer holds the errors and the one ack.
func sendBatch(buf []byte, ackSeq uint32) error {
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
