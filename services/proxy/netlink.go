package proxy

import (
	"encoding/binary"
	"errors"
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

// nlOp is one translated operation. queue puts it on a google/nftables connection (partial
// syncs); encode, where it is set, writes the same message into a full sync's batch itself
// (nlencode.go).
type nlOp struct {
	queue  func(c *gnft.Conn) error
	encode func(w *msgWriter) error
}

// translate turns every operation into its netlink message, or returns errUnsupported
// (wrapped) for the first one outside the vocabulary, before anything is queued: a lasting
// connection must not keep half a transaction for the next Flush.
//
// Consecutive element operations on one set with the same verb become one message of up to
// elemsPerMessage elements: a full sync of 10,000 services adds some 40,000 elements, and a
// message each costs a netlink header, the kernel's per-message dispatch and Go's marshalling
// 40,000 times over.
func (t *nlTranslator) translate(ops []op) ([]nlOp, error) {
	out := make([]nlOp, 0, len(ops))
	var group elemGroup
	for _, o := range ops {
		if e, ok := o.obj.(*knftables.Element); ok {
			gs, el, err := t.elementData(o.verb, e)
			if err != nil {
				return nil, err
			}
			del := o.verb == verbDelete
			if group.set == nil || group.set.Name != gs.Name || group.del != del || len(group.elems) == elemsPerMessage {
				if group.set != nil {
					out = append(out, group.op())
				}
				group = elemGroup{set: gs, del: del}
			}
			group.elems = append(group.elems, el)
			continue
		}
		if group.set != nil {
			out = append(out, group.op())
			group = elemGroup{}
		}
		q, err := t.translateOne(o)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	if group.set != nil {
		out = append(out, group.op())
	}
	return out, nil
}

// elemsPerMessage bounds the elements of one message: their list is one netlink attribute,
// whose length field has 16 bits (a concatenated verdict-map element takes about 80 bytes).
const elemsPerMessage = 256

// elemGroup is consecutive element operations of one set and verb, sent as one message.
type elemGroup struct {
	set   *gnft.Set
	del   bool
	elems []gnft.SetElement
}

func (g elemGroup) op() nlOp {
	o := nlOp{queue: func(c *gnft.Conn) error { return c.SetAddElements(g.set, g.elems) }}
	if g.del {
		o.queue = func(c *gnft.Conn) error { return c.SetDeleteElements(g.set, g.elems) }
	}
	if encodable(g.set, g.elems) {
		o.encode = func(w *msgWriter) error { encodeElems(w, g.set, g.elems, g.del); return nil }
	}
	return o
}

// queue translates ops and queues them on c.
func (t *nlTranslator) queue(c *gnft.Conn, ops []op) error {
	qs, err := t.translate(ops)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if err := q.queue(c); err != nil {
			return err
		}
	}
	return nil
}

func (t *nlTranslator) translateOne(o op) (nlOp, error) {
	switch obj := o.obj.(type) {
	case *knftables.Table:
		return t.tableOp(o.verb, obj)
	case *knftables.Chain:
		return t.chain(o.verb, obj)
	case *knftables.Rule:
		return t.rule(o.verb, obj)
	case *knftables.Set:
		return t.set(o.verb, obj)
	case *knftables.Map:
		return t.globalMap(o.verb, obj)
	case *knftables.Element:
		return t.element(o.verb, obj)
	}
	return nlOp{}, fmt.Errorf("%T: %w", o.obj, errUnsupported)
}

// ours says whether an object names no other table than the proxy's.
func ours(family knftables.Family, table string) bool { return family == "" && table == "" }

func (t *nlTranslator) tableOp(v verb, tb *knftables.Table) (nlOp, error) {
	if tb.Family != "" || tb.Name != "" || tb.Comment != nil || tb.Flags != nil || tb.Handle != nil || v == verbFlush {
		return nlOp{}, fmt.Errorf("table: %w", errUnsupported)
	}
	return nlOp{queue: func(c *gnft.Conn) error {
		if v == verbAdd {
			c.AddTable(t.table)
		} else {
			c.DelTable(t.table)
		}
		return nil
	}}, nil
}

func (t *nlTranslator) chain(v verb, ch *knftables.Chain) (nlOp, error) {
	if !ours(ch.Family, ch.Table) || ch.Device != nil || ch.Comment != nil || ch.Handle != nil {
		return nlOp{}, fmt.Errorf("chain %s: %w", ch.Name, errUnsupported)
	}
	gc := &gnft.Chain{Name: ch.Name, Table: t.table}
	base := ch.Type != nil || ch.Hook != nil || ch.Priority != nil
	if base {
		if err := baseChainOf(gc, ch); err != nil {
			return nlOp{}, err
		}
	}
	o := nlOp{queue: func(c *gnft.Conn) error {
		switch v {
		case verbAdd:
			c.AddChain(gc)
		case verbFlush:
			c.FlushChain(gc)
		case verbDelete:
			c.DelChain(gc)
		}
		return nil
	}}
	if v == verbAdd && !base {
		o.encode = func(w *msgWriter) error { encodeChain(w, byte(t.table.Family), t.table.Name, gc.Name); return nil }
	}
	return o, nil
}

var (
	chainTypes = map[knftables.BaseChainType]gnft.ChainType{
		knftables.FilterType: gnft.ChainTypeFilter, knftables.NATType: gnft.ChainTypeNAT, knftables.RouteType: gnft.ChainTypeRoute,
	}
	chainHooks = map[knftables.BaseChainHook]gnft.ChainHook{
		knftables.PreroutingHook: *gnft.ChainHookPrerouting, knftables.InputHook: *gnft.ChainHookInput,
		knftables.ForwardHook: *gnft.ChainHookForward, knftables.OutputHook: *gnft.ChainHookOutput,
		knftables.PostroutingHook: *gnft.ChainHookPostrouting,
	}
	// chainPriorities are nft's names for the ip and ip6 families' priorities.
	chainPriorities = map[knftables.BaseChainPriority]gnft.ChainPriority{
		knftables.RawPriority: -300, knftables.ManglePriority: -150, knftables.DNATPriority: -100,
		knftables.FilterPriority: 0, knftables.SecurityPriority: 50, knftables.SNATPriority: 100,
	}
)

// baseChainOf fills in gc the type, hook and priority of a base chain.
func baseChainOf(gc *gnft.Chain, ch *knftables.Chain) error {
	if ch.Type == nil || ch.Hook == nil || ch.Priority == nil {
		return fmt.Errorf("chain %s: a base chain needs type, hook and priority: %w", ch.Name, errUnsupported)
	}
	typ, okT := chainTypes[*ch.Type]
	hook, okH := chainHooks[*ch.Hook]
	prio, okP := chainPriorities[*ch.Priority]
	if n, err := strconv.ParseInt(string(*ch.Priority), 10, 32); err == nil {
		prio, okP = gnft.ChainPriority(n), true
	}
	if !okT || !okH || !okP {
		return fmt.Errorf("chain %s: type %s hook %s priority %s: %w", ch.Name, *ch.Type, *ch.Hook, *ch.Priority, errUnsupported)
	}
	gc.Type, gc.Hooknum, gc.Priority = typ, &hook, &prio
	return nil
}

func (t *nlTranslator) rule(v verb, r *knftables.Rule) (nlOp, error) {
	if v != verbAdd || !ours(r.Family, r.Table) || r.Index != nil || r.Handle != nil || r.Comment != nil {
		return nlOp{}, fmt.Errorf("rule in %s: %w", r.Chain, errUnsupported)
	}
	exprs, err := ruleExprs(t.f, r.Rule)
	if err != nil {
		return nlOp{}, err
	}
	return nlOp{
		queue: func(c *gnft.Conn) error {
			c.AddRule(&gnft.Rule{Table: t.table, Chain: &gnft.Chain{Name: r.Chain, Table: t.table}, Exprs: exprs})
			return nil
		},
		encode: func(w *msgWriter) error { return encodeRule(w, byte(t.table.Family), t.table.Name, r.Chain, exprs) },
	}, nil
}

// set handles the skeleton's plain sets and the affinity sets, the only sets a partial sync
// adds or deletes.
func (t *nlTranslator) set(v verb, s *knftables.Set) (nlOp, error) {
	gs := &gnft.Set{Table: t.table, Name: s.Name}
	if v == verbDelete {
		return nlOp{queue: func(c *gnft.Conn) error { c.DelSet(gs); return nil }}, nil
	}
	if v != verbAdd || !ours(s.Family, s.Table) || s.TypeOf != "" || s.GCInterval != nil || s.Size != nil ||
		s.Policy != nil || s.AutoMerge != nil || s.Comment != nil || s.Handle != nil {
		return nlOp{}, fmt.Errorf("set %s: %w", s.Name, errUnsupported)
	}
	if len(s.Flags) == 0 && s.Timeout == nil {
		return t.addSet(gs, s.Type)
	}
	dynTimeout := slices.Equal(slices.Sorted(slices.Values(s.Flags)), []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag})
	if s.Type != t.f.addrType || !dynTimeout || s.Timeout == nil {
		return nlOp{}, fmt.Errorf("set %s: %w", s.Name, errUnsupported)
	}
	gs.Dynamic, gs.HasTimeout, gs.Timeout = true, true, *s.Timeout
	return t.addSet(gs, s.Type)
}

// globalMap handles the skeleton's verdict maps.
func (t *nlTranslator) globalMap(v verb, m *knftables.Map) (nlOp, error) {
	if v != verbAdd || !ours(m.Family, m.Table) || m.TypeOf != "" || m.Flags != nil || m.Timeout != nil || m.GCInterval != nil ||
		m.Size != nil || m.Policy != nil || m.Comment != nil || m.Handle != nil {
		return nlOp{}, fmt.Errorf("map %s: %w", m.Name, errUnsupported)
	}
	return t.addSet(&gnft.Set{Table: t.table, Name: m.Name, IsMap: true}, m.Type)
}

// setKeyTypes are the key types the table's sets and maps are made of.
var setKeyTypes = map[string]gnft.SetDatatype{
	"ipv4_addr": gnft.TypeIPAddr, "ipv6_addr": gnft.TypeIP6Addr, "inet_proto": gnft.TypeInetProto, "inet_service": gnft.TypeInetService,
}

// addSet completes gs with the nft type typ ("K1 [. K2 …] [: verdict]", a map's data only a
// verdict) as nft declares it: a single address key big-endian, a concatenation without the
// concat flag or field lengths (nft sends those for interval sets only).
func (t *nlTranslator) addSet(gs *gnft.Set, typ string) (nlOp, error) {
	key, data, isMap := strings.Cut(typ, " : ")
	if isMap != gs.IsMap || isMap && data != "verdict" {
		return nlOp{}, fmt.Errorf("set %s of type %q: %w", gs.Name, typ, errUnsupported)
	}
	var fields []gnft.SetDatatype
	for _, name := range strings.Split(key, " . ") {
		dt, ok := setKeyTypes[name]
		if !ok {
			return nlOp{}, fmt.Errorf("set %s of type %q: %w", gs.Name, typ, errUnsupported)
		}
		fields = append(fields, dt)
	}
	if len(fields) == 1 {
		gs.KeyType = fields[0]
		if key == t.f.addrType {
			gs.KeyByteOrder = binaryutil.BigEndian
		}
	} else {
		kt, err := gnft.ConcatSetType(fields...)
		if err != nil {
			return nlOp{}, fmt.Errorf("set %s of type %q: %w", gs.Name, typ, errors.Join(err, errUnsupported))
		}
		gs.KeyType = kt
	}
	if isMap {
		gs.DataType = gnft.TypeVerdict
	}
	return nlOp{queue: func(c *gnft.Conn) error {
		if err := c.AddSet(gs, nil); err != nil {
			return fmt.Errorf("set %s: %w", gs.Name, err)
		}
		return nil
	}}, nil
}

func (t *nlTranslator) element(v verb, e *knftables.Element) (nlOp, error) {
	gs, el, err := t.elementData(v, e)
	if err != nil {
		return nlOp{}, err
	}
	return elemGroup{set: gs, del: v == verbDelete, elems: []gnft.SetElement{el}}.op(), nil
}

// elementData is an element operation's set and encoded element.
func (t *nlTranslator) elementData(v verb, e *knftables.Element) (*gnft.Set, gnft.SetElement, error) {
	name := e.Set + e.Map
	fields, ok := t.keys[name]
	if !ok || (e.Set != "" && e.Map != "") || !ours(e.Family, e.Table) || e.Comment != nil || v == verbFlush {
		return nil, gnft.SetElement{}, fmt.Errorf("element of %s: %w", name, errUnsupported)
	}
	key, err := t.encodeKey(fields, strings.Join(e.Key, " . "))
	if err != nil {
		return nil, gnft.SetElement{}, fmt.Errorf("element %v of %s: %w", e.Key, name, err)
	}
	el := gnft.SetElement{Key: key}
	gs := &gnft.Set{Table: t.table, Name: name, IsMap: e.Map != ""}
	if v == verbDelete || !gs.IsMap {
		return gs, el, nil
	}
	words := strings.Fields(strings.Join(e.Value, " "))
	if len(words) == 0 {
		return nil, gnft.SetElement{}, fmt.Errorf("element %v of %s without a value: %w", e.Key, name, errUnsupported)
	}
	vd, err := parseVerdict(words[0], words[1:])
	if err != nil {
		return nil, gnft.SetElement{}, fmt.Errorf("element %v of %s: %w", e.Key, name, err)
	}
	if vd.Chain == "" && len(words) > 1 || len(words) > 2 {
		return nil, gnft.SetElement{}, fmt.Errorf("element %v of %s: value %q: %w", e.Key, name, e.Value, errUnsupported)
	}
	el.VerdictData = vd
	return gs, el, nil
}

// encodeKey lays out a key ("V1 . V2 …", one value per field of types) as the kernel stores
// it: each field of a concatenation padded to 4 bytes, a single field as it is.
func (t *nlTranslator) encodeKey(types []string, key string) ([]byte, error) {
	out := make([]byte, 0, 4*len(types)+16)
	rest := key
	for i, typ := range types {
		v, after, more := strings.Cut(rest, " . ")
		if more == (i == len(types)-1) {
			return nil, fmt.Errorf("key %q for %d fields: %w", key, len(types), errUnsupported)
		}
		rest = after
		n := len(out)
		var err error
		if out, err = t.appendField(out, typ, strings.TrimSpace(v)); err != nil {
			return nil, err
		}
		if len(types) > 1 {
			for (len(out)-n)%4 != 0 {
				out = append(out, 0)
			}
		}
	}
	return out, nil
}

// appendField appends one field's value v of type typ to b.
func (t *nlTranslator) appendField(b []byte, typ, v string) ([]byte, error) {
	switch typ {
	case "ipv4_addr", "ipv6_addr":
		a, ok := t.f.parse(v)
		if !ok || typ != t.f.addrType {
			return nil, fmt.Errorf("address %q: %w", v, errUnsupported)
		}
		if a.Is4() {
			x := a.As4()
			return append(b, x[:]...), nil
		}
		x := a.As16()
		return append(b, x[:]...), nil
	case "inet_proto":
		if n, ok := l4protos[v]; ok {
			return append(b, n), nil
		}
	case "inet_service":
		if n, err := strconv.ParseUint(v, 10, 16); err == nil {
			return binary.BigEndian.AppendUint16(b, uint16(n)), nil
		}
	}
	return nil, fmt.Errorf("%s %q: %w", typ, v, errUnsupported)
}
