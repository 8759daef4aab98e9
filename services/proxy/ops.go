package proxy

import "sigs.k8s.io/knftables"

// txWriter is what the renderers write to: a knftables.Transaction, or an opLog that also keeps
// the operations so that a backend can run them without nft.
type txWriter interface {
	Add(obj knftables.Object)
	Flush(obj knftables.Object)
	Delete(obj knftables.Object)
}

type verb int

const (
	verbAdd verb = iota
	verbFlush
	verbDelete
)

// op is one operation of a transaction, as the renderer wrote it.
type op struct {
	verb verb
	obj  knftables.Object
}

// opLog writes every operation to tx and keeps it.
type opLog struct {
	tx  *knftables.Transaction
	ops []op
}

func (l *opLog) Add(obj knftables.Object) {
	l.tx.Add(obj)
	l.ops = append(l.ops, op{verbAdd, obj})
}

func (l *opLog) Flush(obj knftables.Object) {
	l.tx.Flush(obj)
	l.ops = append(l.ops, op{verbFlush, obj})
}

func (l *opLog) Delete(obj knftables.Object) {
	l.tx.Delete(obj)
	l.ops = append(l.ops, op{verbDelete, obj})
}
