package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// errUnsupported marks an operation the netlink path does not translate; the transaction then
// goes through nft instead.
var errUnsupported = errors.New("not translated to netlink")

// ruleExprs translates one rule of the model's vocabulary into the expressions nft 1.0.6
// generates for the same text (the root tests hold the two side by side). The vocabulary is
// what the per-service chains use (numgen, meta l4proto, the masquerade mark, saddr against a
// prefix or a named set, affinity updates, fib saddr type local, dnat and verdicts) and what
// the skeleton's rules use (see nlbase.go). Anything else is errUnsupported.
func ruleExprs(f fam, rule string) ([]expr.Any, error) {
	p := &ruleParser{f: f, toks: strings.Fields(rule)}
	for len(p.toks) > 0 {
		if p.done {
			return nil, fmt.Errorf("rule %q: statement after the verdict: %w", rule, errUnsupported)
		}
		if err := p.statement(); err != nil {
			return nil, fmt.Errorf("rule %q: %w", rule, err)
		}
	}
	return p.exprs, nil
}

type ruleParser struct {
	f     fam
	toks  []string
	exprs []expr.Any
	done  bool // a verdict was read: nothing may follow
}

// take consumes words if the rule continues with them.
func (p *ruleParser) take(words ...string) bool {
	if len(p.toks) < len(words) {
		return false
	}
	for i, w := range words {
		if p.toks[i] != w {
			return false
		}
	}
	p.toks = p.toks[len(words):]
	return true
}

// peek is the next token, "" at the end.
func (p *ruleParser) peek() string {
	if len(p.toks) == 0 {
		return ""
	}
	return p.toks[0]
}

// next consumes one token.
func (p *ruleParser) next() (string, error) {
	if len(p.toks) == 0 {
		return "", fmt.Errorf("rule ends early: %w", errUnsupported)
	}
	t := p.toks[0]
	p.toks = p.toks[1:]
	return t, nil
}

func (p *ruleParser) add(e ...expr.Any) { p.exprs = append(p.exprs, e...) }

func (p *ruleParser) statement() error {
	switch {
	case p.take("numgen", "random", "mod"):
		return p.numgen()
	case p.take("meta", "l4proto"):
		return p.l4proto()
	case p.take("meta", "mark", "set", "meta", "mark", "|"):
		return p.markSet(false)
	case p.take("meta", "mark", "set", "meta", "mark", "^"):
		return p.markSet(true)
	case p.take("meta", "mark", "&"):
		return p.markMasked()
	case p.take(p.f.kw, "saddr"):
		return p.addr(p.f.saddrOffset())
	case p.take(p.f.kw, "daddr"):
		return p.addr(p.f.daddrOffset())
	case p.take("update"):
		return p.update()
	case p.take("fib"):
		return p.fib()
	case p.take("ct"):
		return p.ct()
	case p.take("dnat", "to"):
		return p.dnat()
	case p.take("reject"):
		return p.reject()
	case p.take("masquerade"):
		return p.masquerade()
	}
	return p.verdict()
}

// numgen: "numgen random mod N V", a random number below N compared with V.
func (p *ruleParser) numgen() error {
	mod, err := p.uint32()
	if err != nil {
		return err
	}
	v, err := p.uint32()
	if err != nil {
		return err
	}
	p.add(&expr.Numgen{Register: 1, Modulus: mod, Type: unix.NFT_NG_RANDOM}, cmpEq(native32(v)))
	return nil
}

func (p *ruleParser) uint32() (uint32, error) {
	t, err := p.next()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(t, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", t, errUnsupported)
	}
	return uint32(n), nil
}

var l4protos = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}

func (p *ruleParser) l4proto() error {
	if p.peek() == "." {
		return p.concat(l4protoSel)
	}
	t, err := p.next()
	if err != nil {
		return err
	}
	n, ok := l4protos[t]
	if !ok {
		return fmt.Errorf("protocol %q: %w", t, errUnsupported)
	}
	p.add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpEq([]byte{n}))
	return nil
}

// markSet: "meta mark set meta mark | BITS", or "^ BITS" with xor, as nft makes both: the
// mark through a mask and an xor.
func (p *ruleParser) markSet(xor bool) error {
	bits, err := p.uint32()
	if err != nil {
		return err
	}
	mask := ^bits
	if xor {
		mask = ^uint32(0)
	}
	p.add(&expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, bitwise32(mask, bits),
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
	return nil
}

// addr: "KW saddr|daddr" (its header offset off) then "@SET" (a lookup), ". …" (the first
// field of a concatenation), or [!=] PREFIX|ADDR.
func (p *ruleParser) addr(off uint32) error {
	if t := p.peek(); t == "." || strings.HasPrefix(t, "@") {
		return p.concat(p.addrSel(off))
	}
	neg := p.take("!=")
	t, err := p.next()
	if err != nil {
		return err
	}
	pfx, err := parsePrefix(t)
	if err != nil || !p.f.has(pfx.Addr()) || pfx != pfx.Masked() {
		return fmt.Errorf("address %q: %w", t, errUnsupported)
	}
	p.prefix(off, pfx, neg)
	return nil
}

// parsePrefix reads a prefix, or an address as the prefix of its full length.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// prefix matches the address at off against pfx as nft does: a whole-byte prefix loads only
// its bytes, any other a full address through a mask.
func (p *ruleParser) prefix(off uint32, pfx netip.Prefix, neg bool) {
	addr := pfx.Addr().AsSlice()
	bits := pfx.Bits()
	cmp := cmpEq
	if neg {
		cmp = cmpNeq
	}
	if bits > 0 && bits%8 == 0 {
		p.add(loadNet(off, uint32(bits/8), 1), cmp(addr[:bits/8]))
		return
	}
	p.add(loadNet(off, uint32(len(addr)), 1))
	if bits < len(addr)*8 {
		mask := make([]byte, len(addr))
		for i := 0; i < bits; i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		p.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(addr)), Mask: mask, Xor: make([]byte, len(addr))})
	}
	p.add(cmp(addr))
}

func loadNet(off, n, reg uint32) *expr.Payload {
	return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

// update: "update @SET { KW saddr }", refreshing the client's entry in an affinity set.
func (p *ruleParser) update() error {
	t, err := p.next()
	if err != nil {
		return err
	}
	set, ok := strings.CutPrefix(t, "@")
	if !ok || !p.take("{", p.f.kw, "saddr", "}") {
		return fmt.Errorf("update %q: %w", t, errUnsupported)
	}
	p.add(loadNet(p.f.saddrOffset(), p.f.addrLen(), 1), &expr.Dynset{SrcRegKey: 1, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE})
	return nil
}

// dnat: "dnat to ADDR:PORT".
func (p *ruleParser) dnat() error {
	t, err := p.next()
	if err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(t)
	if err != nil || !p.f.has(ap.Addr()) {
		return fmt.Errorf("dnat to %q: %w", t, errUnsupported)
	}
	family := uint32(unix.NFPROTO_IPV4)
	if p.f.v6 {
		family = unix.NFPROTO_IPV6
	}
	p.add(&expr.Immediate{Register: 1, Data: ap.Addr().Unmap().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(ap.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: family, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
	return nil
}

func (p *ruleParser) verdict() error {
	t, err := p.next()
	if err != nil {
		return err
	}
	v, err := parseVerdict(t, p.toks)
	if err != nil {
		return err
	}
	if v.Chain != "" {
		p.toks = p.toks[1:]
	}
	p.add(v)
	p.done = true
	return nil
}

// parseVerdict reads a verdict whose first word is t and whose chain, if it takes one, is
// rest[0].
func parseVerdict(t string, rest []string) (*expr.Verdict, error) {
	switch t {
	case "accept":
		return &expr.Verdict{Kind: expr.VerdictAccept}, nil
	case "drop":
		return &expr.Verdict{Kind: expr.VerdictDrop}, nil
	case "return":
		return &expr.Verdict{Kind: expr.VerdictReturn}, nil
	case "goto", "jump":
		if len(rest) == 0 {
			return nil, fmt.Errorf("%s without a chain: %w", t, errUnsupported)
		}
		kind := expr.VerdictGoto
		if t == "jump" {
			kind = expr.VerdictJump
		}
		return &expr.Verdict{Kind: kind, Chain: rest[0]}, nil
	}
	return nil, fmt.Errorf("statement %q: %w", t, errUnsupported)
}

func cmpEq(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data} }

func cmpNeq(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: data} }

func native32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// addrLen is the size of an address of the family.
func (f fam) addrLen() uint32 {
	if f.v6 {
		return 16
	}
	return 4
}

// saddrOffset and daddrOffset are where the addresses sit in the family's header.
func (f fam) saddrOffset() uint32 {
	if f.v6 {
		return 8
	}
	return 12
}

func (f fam) daddrOffset() uint32 { return f.saddrOffset() + f.addrLen() }
