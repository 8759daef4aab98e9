package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	gnft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// batchingNFT is the real nftables: knftables for everything, except that Run merges runs of
// element commands for one set into one command before piping the transaction to `nft -f -`.
// nft 1.0.6 pays per command, and a full sync of 10,000 services carries 30,000 elements: merged,
// the load takes about 0.1 s less (of about 0.9 s).
type batchingNFT struct {
	knftables.Interface
	nftPath string
	family  gnft.TableFamily
	table   string
	nl      *nlTranslator
	// nlConn is the lasting netlink connection of partial syncs (see partialConn); nil before
	// the first and after a failed one. Only the sync in progress (under syncMu) uses it.
	nlConn *gnft.Conn
}

func newRealNFT(family knftables.Family, table string) (knftables.Interface, error) {
	inner, err := knftables.New(family, table)
	if err != nil {
		return nil, err
	}
	path, err := exec.LookPath("nft")
	if err != nil {
		return nil, err
	}
	fam := gnft.TableFamilyIPv4
	if family == knftables.IPv6Family {
		fam = gnft.TableFamilyIPv6
	}
	return &batchingNFT{Interface: inner, nftPath: path, family: fam, table: table, nl: newNLTranslator(newFam(family), table)}, nil
}

// txErrorMarker is how knftables' Transaction.String reports an object it refused to add (its
// error field is private): the transaction must not run then.
const txErrorMarker = "# ERROR: "

func (b *batchingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	text := tx.String()
	if i := strings.LastIndex(text, txErrorMarker); i >= 0 && (i == 0 || text[i-1] == '\n') {
		return errors.New(text[i+len(txErrorMarker):])
	}
	cmd := exec.CommandContext(ctx, b.nftPath, "-f", "-")
	cmd.Stdin = strings.NewReader(mergeElementCommands(text))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// mergeElementCommands turns consecutive lines "add element F T S { k }" (or delete) for the
// same set into one "add element F T S { k1, k2, … }"; every other line stays as it is, in order.
func mergeElementCommands(text string) string {
	var out strings.Builder
	out.Grow(len(text))
	var head string // "add element F T S" of the open command, "" when none is open
	closeOpen := func() {
		if head != "" {
			out.WriteString(" }\n")
			head = ""
		}
	}
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		h, elem, ok := splitElementCommand(line)
		if !ok {
			closeOpen()
			out.WriteString(line + "\n")
			continue
		}
		if h == head {
			out.WriteString(", " + elem)
			continue
		}
		closeOpen()
		head = h
		out.WriteString(h + " { " + elem)
	}
	closeOpen()
	return out.String()
}

// splitElementCommand splits "add element F T S { k : v }" into its head and "k : v".
func splitElementCommand(line string) (head, elem string, ok bool) {
	if !strings.HasPrefix(line, "add element ") && !strings.HasPrefix(line, "delete element ") {
		return "", "", false
	}
	h, rest, found := strings.Cut(line, " { ")
	if !found || !strings.HasSuffix(rest, " }") || strings.ContainsAny(rest[:len(rest)-2], "{}") {
		return "", "", false
	}
	return h, rest[:len(rest)-2], true
}

// CountRules counts the rules of one chain of the table over netlink. The table check runs it
// every second: `nft list chain` costs 0.1 s of CPU at 10,000 services (nft loads the whole
// table into its cache first), the kernel's dump of one chain microseconds. A missing table or
// chain counts zero rules: either way the table needs a full sync.
func (b *batchingNFT) CountRules(ctx context.Context, chain string) (int, error) {
	conn, err := gnft.New()
	if err != nil {
		return 0, fmt.Errorf("netlink: %w", err)
	}
	rules, err := conn.GetRules(&gnft.Table{Name: b.table, Family: b.family}, &gnft.Chain{Name: chain})
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list chain %s over netlink: %w", chain, err)
	}
	return len(rules), nil
}

// RunPartial sends a partial sync to the kernel as one netlink batch instead of piping it to
// `nft -f`. Before it runs any command that adds a rule or an element, nft 1.0.6 loads every
// chain and set of the ruleset into its cache (a dump of 10,000 chains and their parsing:
// about 30 ms a run beside 10,000 services, whatever the transaction holds); the batch costs
// only the kernel's commit. That commit still walks every chain reachable from the base chains
// (all 10,000 service chains, through the service-ips map, once per NAT hook) whenever a rule
// or a jump/goto element is added: about 12 ms here. Validating only the chains a batch touches
// was proposed upstream:
// https://lore.kernel.org/netfilter-devel/20250520100907.191244-1-pablo@netfilter.org/
// A transaction with an operation the translator does not know, or bigger than maxNetlinkOps,
// goes through nft as before, and viaNFT says so.
func (b *batchingNFT) RunPartial(ctx context.Context, ops []op) (viaNFT bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if len(ops) > maxNetlinkOps {
		return true, b.Run(ctx, transaction(b, ops))
	}
	qs, err := b.nl.translate(ops)
	if errors.Is(err, errUnsupported) {
		return true, b.Run(ctx, transaction(b, ops))
	}
	if err != nil {
		return false, err
	}
	conn, err := b.partialConn()
	if err != nil {
		return false, err
	}
	for _, q := range qs {
		err = errors.Join(err, q.queue(conn))
	}
	if err = errors.Join(err, conn.Flush()); err != nil {
		// Whatever the socket still holds (queued messages, unread acks) must not reach
		// the next batch.
		_ = conn.CloseLasting()
		b.nlConn = nil
		return false, fmt.Errorf("netlink batch of %d operations: %w", len(ops), err)
	}
	return false, nil
}

// partialConn is the lasting netlink connection of partial syncs, opened in the netns of the
// first one. One socket for the daemon's life rather than one per batch: closing a
// NETLINK_NETFILTER socket makes nf_tables finish its deferred destroy work first
// (nft_rcv_nl_event flushes it), which waits for an RCU grace period whenever the last batch
// deleted anything; that cost 5-25 ms per sync that removed a service.
func (b *batchingNFT) partialConn() (*gnft.Conn, error) {
	if b.nlConn == nil {
		c, err := gnft.New(gnft.AsLasting(), gnft.WithSockOptions(batchBuffers(maxNetlinkOps)))
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		b.nlConn = c
	}
	return b.nlConn, nil
}

// maxNetlinkOps bounds the partial syncs sent over netlink. Bigger ones (a burst of hundreds of
// Services coalesced into one sync) go through nft, whose fixed cost is small beside theirs,
// and their batch would need socket buffers of many megabytes (see batchBuffers).
const maxNetlinkOps = 1000

// batchBuffers sizes the socket for batches of up to n operations. The kernel takes a batch
// only whole, from one sendmsg (nfnetlink_rcv_batch works on one skb), and answers every
// message with an ack, and every rule with an echo of it (google/nftables asks for both), all
// queued before they are read: with the default buffers (net.core.[rw]mem_default, 208 KiB) a
// batch of a few hundred operations fails with EMSGSIZE or ENOBUFS. The FORCE options go
// beyond [rw]mem_max, which the daemon (CAP_NET_ADMIN) may. They are limits: the kernel
// charges only what a batch uses.
func batchBuffers(n int) gnft.SockOption {
	return func(c *netlink.Conn) error { return forceBuffers(c, 64<<10+n*2<<10, 64<<10+n*8<<10) }
}

// forceBuffers sets a netlink socket's send and receive buffers, beyond [rw]mem_max.
func forceBuffers(c *netlink.Conn, snd, rcv int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, snd),
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcv))
	})
	if err = errors.Join(err, serr); err != nil {
		return fmt.Errorf("netlink socket buffers: %w", err)
	}
	return nil
}
