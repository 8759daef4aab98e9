package proxy

import (
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
)

// describeExprs prints expressions in a short form close to nft --debug=netlink's, for the
// kinds the skeleton uses (bytes in memory order: the literals assume a little-endian host).
func describeExprs(exprs []expr.Any) string {
	var out []string
	for _, e := range exprs {
		out = append(out, describeExpr(e))
	}
	return strings.Join(out, " ")
}

func describeExpr(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Ct:
		return fmt.Sprintf("ct(%s→%d)", map[expr.CtKey]string{expr.CtKeySTATE: "state", expr.CtKeySTATUS: "status"}[e.Key], e.Register)
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise(&%x^%x)", e.Mask, e.Xor)
	case *expr.Cmp:
		op := map[expr.CmpOp]string{expr.CmpOpEq: "==", expr.CmpOpNeq: "!="}[e.Op]
		return fmt.Sprintf("cmp(%s%x)", op, e.Data)
	case *expr.Verdict:
		kind := map[expr.VerdictKind]string{expr.VerdictJump: "jump", expr.VerdictGoto: "goto", expr.VerdictDrop: "drop",
			expr.VerdictReturn: "return", expr.VerdictAccept: "accept"}[e.Kind]
		return strings.TrimSpace(fmt.Sprintf("verdict(%s %s", kind, e.Chain)) + ")"
	case *expr.Payload:
		base := map[expr.PayloadBase]string{expr.PayloadBaseNetworkHeader: "nh", expr.PayloadBaseTransportHeader: "th"}[e.Base]
		return fmt.Sprintf("payload(%s+%d/%d→%d)", base, e.Offset, e.Len, e.DestRegister)
	case *expr.Meta:
		key := map[expr.MetaKey]string{expr.MetaKeyL4PROTO: "l4proto", expr.MetaKeyMARK: "mark"}[e.Key]
		if e.SourceRegister {
			return fmt.Sprintf("meta(%s←%d)", key, e.Register)
		}
		return fmt.Sprintf("meta(%s→%d)", key, e.Register)
	case *expr.Lookup:
		if e.IsDestRegSet {
			return fmt.Sprintf("lookup(%s %d→verdict)", e.SetName, e.SourceRegister)
		}
		return fmt.Sprintf("lookup(%s %d)", e.SetName, e.SourceRegister)
	case *expr.Fib:
		addr := "saddr"
		if e.FlagDADDR {
			addr = "daddr"
		}
		return fmt.Sprintf("fib(%s type→%d)", addr, e.Register)
	case *expr.Masq:
		if e.FullyRandom {
			return "masq(fully-random)"
		}
		return "masq()"
	case *expr.Reject:
		return fmt.Sprintf("reject(%d/%d)", e.Type, e.Code)
	}
	return fmt.Sprintf("%T%+v", e, e)
}
