package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// Names of the table's fixed objects.
const (
	mapServiceIPs         = "service-ips"
	mapServiceNodePorts   = "service-nodeports"
	mapNoEndpointServices = "no-endpoint-services"
	mapNoEndpointNodePort = "no-endpoint-nodeports"
	mapFirewallIPs        = "firewall-ips"
	setNodePortIPs        = "nodeport-ips"
	setClusterIPs         = "cluster-ips"
	setHairpin            = "hairpin"

	chainServices     = "services"
	chainMasquerading = "masquerading"
	chainReject       = "reject-chain"
	chainEndpointsChk = "endpoints-check"
	chainClusterIPChk = "cluster-ips-check"

	// masqMark is the packet mark bit that asks postrouting to masquerade (kube-proxy's).
	masqMark = "0x4000"

	verdictReject = "goto " + chainReject
	verdictDrop   = "drop"
)

// portID names one service port: ns/name/proto/port-name-or-number, unique in a table.
func portID(ns, name string, sp *corev1.ServicePort) string {
	p := sp.Name
	if p == "" {
		p = fmt.Sprint(sp.Port)
	}
	return ns + "/" + name + "/" + strings.ToLower(string(sp.Protocol)) + "/" + p
}

// hashPrefix makes object names unique even when their readable part is ambiguous, in the
// manner of kube-proxy (base32 of a sha256, 8 characters).
func hashPrefix(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	// base32 turns each 5 bytes into 8 characters on their own: the first 8 of the whole
	// digest's encoding are its first 5 bytes'.
	return base32.StdEncoding.EncodeToString(h[:5])
}

// chainName is a per-service-port chain: kind is "svc", "local", "ext" or "fw".
func chainName(kind, id string) string { return kind + "-" + hashPrefix(kind, id) + "-" + id }

// affinitySetName is the ClientIP affinity set of one endpoint of one service port; the
// timeout is part of the hash so that a new timeout makes a new set.
func affinitySetName(id string, ep netip.AddrPort, timeoutSeconds int32) string {
	e := strings.NewReplacer(":", ".", "[", "", "]", "").Replace(ep.String())
	return "aff-" + hashPrefix(id, ep.String(), fmt.Sprint(timeoutSeconds)) + "-" + id + "-" + e
}

// fam holds the spellings that differ between the ip and ip6 families.
type fam struct {
	family   knftables.Family
	kw       string // ip or ip6, the payload keyword
	addrType string // ipv4_addr or ipv6_addr
	v6       bool
}

func newFam(f knftables.Family) fam {
	if f == knftables.IPv6Family {
		return fam{family: f, kw: "ip6", addrType: "ipv6_addr", v6: true}
	}
	return fam{family: f, kw: "ip", addrType: "ipv4_addr"}
}

// has says whether a belongs to this family.
func (f fam) has(a netip.Addr) bool { return a.IsValid() && a.Unmap().Is6() == f.v6 }

// parse reads an address of this family; false for other families and garbage.
func (f fam) parse(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !f.has(a) {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// prefixSet spells prefixes as an nft value: one bare, several as an anonymous set.
func prefixSet(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Masked().String()
	}
	if len(s) == 1 {
		return s[0]
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

func protoName(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}
