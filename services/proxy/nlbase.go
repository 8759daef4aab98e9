package proxy

import (
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file holds the statements only the skeleton's rules (baseRules) use: concatenated
// lookups and verdict maps, ct state and status, fib with either address, the masquerade mark's
// test and toggle, reject and masquerade. The expressions are those nft 1.0.6 generates for the
// same text (`nft --debug=netlink`); the root tests compare the two tables.

// selector is one field of a concatenation: how to load it into a register, and how many
// 32-bit words it takes there.
type selector struct {
	load  func(reg uint32) expr.Any
	words uint32
}

var (
	l4protoSel = selector{func(reg uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg} }, 1}
	dportSel   = selector{func(reg uint32) expr.Any {
		return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	}, 1}
)

func (p *ruleParser) addrSel(off uint32) selector {
	n := p.f.addrLen()
	return selector{func(reg uint32) expr.Any { return loadNet(off, n, reg) }, n / 4}
}

// selector reads one field after a concatenation's ".".
func (p *ruleParser) selector() (selector, error) {
	switch {
	case p.take(p.f.kw, "saddr"):
		return p.addrSel(p.f.saddrOffset()), nil
	case p.take(p.f.kw, "daddr"):
		return p.addrSel(p.f.daddrOffset()), nil
	case p.take("meta", "l4proto"):
		return l4protoSel, nil
	case p.take("th", "dport"):
		return dportSel, nil
	}
	return selector{}, fmt.Errorf("concatenation at %q: %w", p.peek(), errUnsupported)
}

// concat: "F1 [. F2 …] @SET" (a lookup) or "F1 [. F2 …] vmap @MAP" (a verdict map), each field
// loaded where nft puts it (see concatRegister).
func (p *ruleParser) concat(first selector) error {
	sels := []selector{first}
	for p.take(".") {
		s, err := p.selector()
		if err != nil {
			return err
		}
		sels = append(sels, s)
	}
	vmap := p.take("vmap")
	t, err := p.next()
	if err != nil {
		return err
	}
	set, ok := strings.CutPrefix(t, "@")
	if !ok {
		return fmt.Errorf("lookup in %q: %w", t, errUnsupported)
	}
	var w uint32
	for _, s := range sels {
		p.add(s.load(concatRegister(w)))
		w += s.words
	}
	l := &expr.Lookup{SourceRegister: 1, SetName: set}
	if vmap {
		l.IsDestRegSet, l.DestRegister = true, unix.NFT_REG_VERDICT
		p.done = true
	}
	p.add(l)
	return nil
}

// concatRegister is the register nft loads a concatenation's field into when the field starts
// w 32-bit words after the first: a 16-byte register where one starts, otherwise the 32-bit
// one (NFT_REG32_00 is 8).
func concatRegister(w uint32) uint32 {
	if w%4 == 0 {
		return w/4 + unix.NFT_REG_1
	}
	return unix.NFT_REG32_00 + w
}

// fib: "fib saddr|daddr type [!=] local".
func (p *ruleParser) fib() error {
	f := &expr.Fib{Register: 1, ResultADDRTYPE: true}
	switch {
	case p.take("saddr", "type"):
		f.FlagSADDR = true
	case p.take("daddr", "type"):
		f.FlagDADDR = true
	default:
		return fmt.Errorf("fib %q: %w", p.peek(), errUnsupported)
	}
	cmp := cmpEq
	if p.take("!=") {
		cmp = cmpNeq
	}
	if !p.take("local") {
		return fmt.Errorf("fib type %q: %w", p.peek(), errUnsupported)
	}
	p.add(f, cmp(native32(unix.RTN_LOCAL)))
	return nil
}

// ctBits are the conntrack flags the rules test, by key and name.
var ctBits = map[string]map[string]uint32{
	"state":  {"new": 1 << 3},  // NF_CT_STATE_BIT(IP_CT_NEW)
	"status": {"dnat": 1 << 5}, // IPS_DST_NAT
}

// ct: "ct state new" or "ct status dnat", a test of one flag.
func (p *ruleParser) ct() error {
	k, err := p.next()
	if err != nil {
		return err
	}
	v, err := p.next()
	if err != nil {
		return err
	}
	bit, ok := ctBits[k][v]
	if !ok {
		return fmt.Errorf("ct %s %s: %w", k, v, errUnsupported)
	}
	key := expr.CtKeySTATE
	if k == "status" {
		key = expr.CtKeySTATUS
	}
	p.add(&expr.Ct{Register: 1, Key: key}, bitwise32(bit, 0), cmpNeq(native32(0)))
	return nil
}

// markMasked: "meta mark & MASK == V".
func (p *ruleParser) markMasked() error {
	mask, err := p.uint32()
	if err != nil {
		return err
	}
	if !p.take("==") {
		return fmt.Errorf("meta mark & %#x %q: %w", mask, p.peek(), errUnsupported)
	}
	v, err := p.uint32()
	if err != nil {
		return err
	}
	p.add(&expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, bitwise32(mask, 0), cmpEq(native32(v)))
	return nil
}

func bitwise32(mask, xor uint32) *expr.Bitwise {
	return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native32(mask), Xor: native32(xor)}
}

// reject: "reject" (ICMP port unreachable of the family) or "reject with tcp reset".
func (p *ruleParser) reject() error {
	r := &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3} // ICMP_PORT_UNREACH
	if p.f.v6 {
		r.Code = 4 // ICMPV6_PORT_UNREACH
	}
	if p.take("with", "tcp", "reset") {
		r.Type, r.Code = unix.NFT_REJECT_TCP_RST, 0
	} else if p.peek() == "with" {
		return fmt.Errorf("reject with %q: %w", p.toks, errUnsupported)
	}
	p.add(r)
	p.done = true
	return nil
}

// masquerade: "masquerade [fully-random]".
func (p *ruleParser) masquerade() error {
	p.add(&expr.Masq{FullyRandom: p.take("fully-random")})
	p.done = true
	return nil
}
