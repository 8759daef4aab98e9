package proxy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"sigs.k8s.io/knftables"
)

// nlTranslator queues a partial sync's operations on a netlink connection as the messages nft
// would send for the same text, in the renderer's order; Flush then hands them to the kernel
// as one atomic batch, as `nft -f` does.
type nlTranslator struct {
	f     fam
	table *gnft.Table
	keys  map[string][]string // global set or map → the types of its key's fields
}

func newNLTranslator(f fam, table string) *nlTranslator {
	t := &nlTranslator{f: f, keys: map[string][]string{}}
	t.table = &gnft.Table{Name: table, Family: gnft.TableFamilyIPv4}
	if f.v6 {
		t.table.Family = gnft.TableFamilyIPv6
	}
	for name, typ := range globalSetTypes(f) {
		key, _, _ := strings.Cut(typ, " : ")
		t.keys[name] = strings.Split(key, " . ")
	}
	return t
}

// nlOp queues one translated operation on a connection.
type nlOp func(c *gnft.Conn) error

// translate turns every operation into its netlink message, or returns errUnsupported
// (wrapped) for the first one outside the vocabulary, before anything is queued: a lasting
// connection must not keep half a transaction for the next Flush.
func (t *nlTranslator) translate(ops []op) ([]nlOp, error) {
	out := make([]nlOp, 0, len(ops))
	for _, o := range ops {
		q, err := t.translateOne(o)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// queue translates ops and queues them on c.
func (t *nlTranslator) queue(c *gnft.Conn, ops []op) error {
	qs, err := t.translate(ops)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if err := q(c); err != nil {
			return err
		}
	}
	return nil
}

func (t *nlTranslator) translateOne(o op) (nlOp, error) {
	switch obj := o.obj.(type) {
	case *knftables.Chain:
		return t.chain(o.verb, obj)
	case *knftables.Rule:
		return t.rule(o.verb, obj)
	case *knftables.Set:
		return t.set(o.verb, obj)
	case *knftables.Element:
		return t.element(o.verb, obj)
	}
	return nil, fmt.Errorf("%T: %w", o.obj, errUnsupported)
}

// ours says whether an object names no other table than the proxy's.
func ours(family knftables.Family, table string) bool { return family == "" && table == "" }

func (t *nlTranslator) chain(v verb, ch *knftables.Chain) (nlOp, error) {
	if !ours(ch.Family, ch.Table) || ch.Type != nil || ch.Hook != nil || ch.Priority != nil || ch.Device != nil || ch.Comment != nil {
		return nil, fmt.Errorf("chain %s: %w", ch.Name, errUnsupported)
	}
	gc := &gnft.Chain{Name: ch.Name, Table: t.table}
	return func(c *gnft.Conn) error {
		switch v {
		case verbAdd:
			c.AddChain(gc)
		case verbFlush:
			c.FlushChain(gc)
		case verbDelete:
			c.DelChain(gc)
		}
		return nil
	}, nil
}

func (t *nlTranslator) rule(v verb, r *knftables.Rule) (nlOp, error) {
	if v != verbAdd || !ours(r.Family, r.Table) || r.Index != nil || r.Handle != nil || r.Comment != nil {
		return nil, fmt.Errorf("rule in %s: %w", r.Chain, errUnsupported)
	}
	exprs, err := ruleExprs(t.f, r.Rule)
	if err != nil {
		return nil, err
	}
	gr := &gnft.Rule{Table: t.table, Chain: &gnft.Chain{Name: r.Chain, Table: t.table}, Exprs: exprs}
	return func(c *gnft.Conn) error { c.AddRule(gr); return nil }, nil
}

// set handles the affinity sets, the only sets a partial sync adds or deletes.
func (t *nlTranslator) set(v verb, s *knftables.Set) (nlOp, error) {
	gs := &gnft.Set{Table: t.table, Name: s.Name}
	if v == verbDelete {
		return func(c *gnft.Conn) error { c.DelSet(gs); return nil }, nil
	}
	dynTimeout := slices.Equal(slices.Sorted(slices.Values(s.Flags)), []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag})
	if v != verbAdd || !ours(s.Family, s.Table) || s.Type != t.f.addrType || !dynTimeout || s.Timeout == nil ||
		s.TypeOf != "" || s.GCInterval != nil || s.Size != nil || s.Policy != nil || s.AutoMerge != nil || s.Comment != nil {
		return nil, fmt.Errorf("set %s: %w", s.Name, errUnsupported)
	}
	gs.KeyType, gs.KeyByteOrder = gnft.TypeIPAddr, binaryutil.BigEndian
	if t.f.v6 {
		gs.KeyType = gnft.TypeIP6Addr
	}
	gs.Dynamic, gs.HasTimeout, gs.Timeout = true, true, *s.Timeout
	return func(c *gnft.Conn) error {
		if err := c.AddSet(gs, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		return nil
	}, nil
}

func (t *nlTranslator) element(v verb, e *knftables.Element) (nlOp, error) {
	name := e.Set + e.Map
	fields, ok := t.keys[name]
	if !ok || (e.Set != "" && e.Map != "") || !ours(e.Family, e.Table) || e.Comment != nil || v == verbFlush {
		return nil, fmt.Errorf("element of %s: %w", name, errUnsupported)
	}
	key, err := t.encodeKey(fields, strings.Split(strings.Join(e.Key, " . "), " . "))
	if err != nil {
		return nil, fmt.Errorf("element %v of %s: %w", e.Key, name, err)
	}
	el := gnft.SetElement{Key: key}
	gs := &gnft.Set{Table: t.table, Name: name, IsMap: e.Map != ""}
	if v == verbDelete {
		return func(c *gnft.Conn) error { return c.SetDeleteElements(gs, []gnft.SetElement{el}) }, nil
	}
	if gs.IsMap {
		words := strings.Fields(strings.Join(e.Value, " "))
		if len(words) == 0 {
			return nil, fmt.Errorf("element %v of %s without a value: %w", e.Key, name, errUnsupported)
		}
		vd, err := parseVerdict(words[0], words[1:])
		if err != nil {
			return nil, fmt.Errorf("element %v of %s: %w", e.Key, name, err)
		}
		if vd.Chain == "" && len(words) > 1 || len(words) > 2 {
			return nil, fmt.Errorf("element %v of %s: value %q: %w", e.Key, name, e.Value, errUnsupported)
		}
		el.VerdictData = vd
	}
	return func(c *gnft.Conn) error { return c.SetAddElements(gs, []gnft.SetElement{el}) }, nil
}

// encodeKey lays out a key as the kernel stores it: each field of a concatenation padded to
// 4 bytes, a single field as it is.
func (t *nlTranslator) encodeKey(types, values []string) ([]byte, error) {
	if len(types) != len(values) {
		return nil, fmt.Errorf("%d fields for %d types: %w", len(values), len(types), errUnsupported)
	}
	var key []byte
	for i, typ := range types {
		b, err := t.encodeField(typ, strings.TrimSpace(values[i]))
		if err != nil {
			return nil, err
		}
		if len(types) > 1 {
			b = append(b, make([]byte, (4-len(b)%4)%4)...)
		}
		key = append(key, b...)
	}
	return key, nil
}

func (t *nlTranslator) encodeField(typ, v string) ([]byte, error) {
	switch typ {
	case "ipv4_addr", "ipv6_addr":
		a, ok := t.f.parse(v)
		if !ok || typ != t.f.addrType {
			return nil, fmt.Errorf("address %q: %w", v, errUnsupported)
		}
		return a.AsSlice(), nil
	case "inet_proto":
		if n, ok := l4protos[v]; ok {
			return []byte{n}, nil
		}
	case "inet_service":
		if n, err := strconv.ParseUint(v, 10, 16); err == nil {
			return binaryutil.BigEndian.PutUint16(uint16(n)), nil
		}
	}
	return nil, fmt.Errorf("%s %q: %w", typ, v, errUnsupported)
}
