package proxy

import "sigs.k8s.io/knftables"

// txWriter is what the renderers write to: an opLog, which keeps the operations so that a
// backend can run them without nft (a knftables.Transaction has the same methods).
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

// opLog keeps a transaction's operations. The knftables.Transaction for them, which checks
// every object as it is added, is made only when a backend runs one (nft, the Fake): a full
// sync over netlink skips 70,000 such checks.
type opLog struct {
	ops []op
}

func (l *opLog) Add(obj knftables.Object)    { l.ops = append(l.ops, op{verbAdd, obj}) }
func (l *opLog) Flush(obj knftables.Object)  { l.ops = append(l.ops, op{verbFlush, obj}) }
func (l *opLog) Delete(obj knftables.Object) { l.ops = append(l.ops, op{verbDelete, obj}) }

// transaction is ops as a transaction of nft.
func transaction(nft knftables.Interface, ops []op) *knftables.Transaction {
	tx := nft.NewTransaction()
	for _, o := range ops {
		switch o.verb {
		case verbAdd:
			tx.Add(o.obj)
		case verbFlush:
			tx.Flush(o.obj)
		case verbDelete:
			tx.Delete(o.obj)
		}
	}
	return tx
}
