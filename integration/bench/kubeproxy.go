package main

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/knftables"
)

// The peer for the programming figures: kube-proxy itself lives in k8s.io/kubernetes and cannot
// run here, so the same services are written in the ruleset shape of kube-proxy's nftables mode
// (pkg/proxy/nftables) and loaded by the same nft binary. It measures nft on kube-proxy's
// layout, not kube-proxy's Go code (which also lists the table's chains and sets on every sync).

const (
	kpTable       = "kube-proxy-bench"
	kpMarkMasq    = "mark-for-masquerade"
	kpMasquerade  = "masquerading"
	kpServices    = "services"
	kpServiceIPs  = "service-ips"
	kpMasqMark    = "0x004000"
	kpClusterCIDR = "10.244.0.0/16"
)

// benchService is one made-up Service port with its endpoints: what both the podnet proxy
// (as Service and EndpointSlice objects) and the kube-proxy layout are fed.
type benchService struct {
	ns, name  string
	clusterIP netip.Addr
	port      int
	endpoints []netip.AddrPort
}

// kpChainName is kube-proxy's chain naming: prefix, 8 characters of base32(sha256(name)), name.
func kpChainName(prefix, name string) string {
	h := sha256.Sum256([]byte(name))
	return prefix + base32.StdEncoding.EncodeToString(h[:])[:8] + "-" + name
}

// kpChains names a service port's cluster-policy chain and its endpoint chains.
func kpChains(s benchService) (svc string, eps []string) {
	base := fmt.Sprintf("%s/%s/tcp/http", s.ns, s.name)
	for _, ep := range s.endpoints {
		eps = append(eps, kpChainName("endpoint-", fmt.Sprintf("%s__%s/%d", base, ep.Addr(), ep.Port())))
	}
	return kpChainName("service-", base), eps
}

// kpEnsureChain is how kube-proxy makes a chain it is about to fill: add, then flush.
func kpEnsureChain(tx *knftables.Transaction, name string) {
	tx.Add(&knftables.Chain{Name: name})
	tx.Flush(&knftables.Chain{Name: name})
}

// kpAddService writes one service port as kube-proxy does: endpoint chains (hairpin mark, DNAT),
// the service chain (masquerade mark for sources outside the cluster, random choice) and its
// element in the service-ips map.
func kpAddService(tx *knftables.Transaction, s benchService) {
	svcChain, epChains := kpChains(s)
	for _, c := range epChains {
		kpEnsureChain(tx, c)
	}
	kpEnsureChain(tx, svcChain)
	tx.Add(&knftables.Element{Map: kpServiceIPs, Key: []string{s.clusterIP.String(), "tcp", strconv.Itoa(s.port)},
		Value: []string{"goto " + svcChain}})
	tx.Add(&knftables.Rule{Chain: svcChain, Rule: fmt.Sprintf("ip daddr %s tcp dport %d ip saddr != %s jump %s",
		s.clusterIP, s.port, kpClusterCIDR, kpMarkMasq)})
	vmap := make([]string, len(epChains))
	for i, c := range epChains {
		vmap[i] = fmt.Sprintf("%d : goto %s", i, c)
	}
	tx.Add(&knftables.Rule{Chain: svcChain, Rule: fmt.Sprintf("numgen random mod %d vmap { %s }", len(epChains), strings.Join(vmap, ", "))})
	for i, c := range epChains {
		ep := s.endpoints[i]
		tx.Add(&knftables.Rule{Chain: c, Rule: fmt.Sprintf("ip saddr %s jump %s", ep.Addr(), kpMarkMasq)})
		tx.Add(&knftables.Rule{Chain: c, Rule: "meta l4proto tcp dnat to " + ep.String()})
	}
}

// kpDeleteService removes what kpAddService wrote (kernels from 6.2 on free a chain as soon as
// no element refers to it, so one transaction does).
func kpDeleteService(tx *knftables.Transaction, s benchService) {
	svcChain, epChains := kpChains(s)
	tx.Delete(&knftables.Element{Map: kpServiceIPs, Key: []string{s.clusterIP.String(), "tcp", strconv.Itoa(s.port)}})
	tx.Delete(&knftables.Chain{Name: svcChain})
	for _, c := range epChains {
		tx.Delete(&knftables.Chain{Name: c})
	}
}

// kpSkeleton is the fixed part kube-proxy writes on a full sync: table, base chains, the
// chains they jump to, the masquerade chains, the global maps (flushed, as kube-proxy rebuilds
// them on a full sync).
func kpSkeleton(tx *knftables.Transaction, nodeIP netip.Addr) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("rules for kube-proxy")})
	preDNAT := knftables.BaseChainPriority(string(knftables.DNATPriority) + "-10")
	for _, bc := range []struct {
		name string
		t    knftables.BaseChainType
		hook knftables.BaseChainHook
		prio knftables.BaseChainPriority
	}{
		{"filter-prerouting", knftables.FilterType, knftables.PreroutingHook, preDNAT},
		{"filter-input", knftables.FilterType, knftables.InputHook, preDNAT},
		{"filter-forward", knftables.FilterType, knftables.ForwardHook, preDNAT},
		{"filter-output", knftables.FilterType, knftables.OutputHook, preDNAT},
		{"nat-prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority},
		{"nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority},
		{"nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
	} {
		c := &knftables.Chain{Name: bc.name, Type: knftables.PtrTo(bc.t), Hook: knftables.PtrTo(bc.hook), Priority: knftables.PtrTo(bc.prio)}
		tx.Add(c)
		tx.Flush(c)
	}
	for _, c := range []string{"endpoints-check", "firewall-check", kpServices, kpMasquerade, kpMarkMasq, "reject-chain"} {
		kpEnsureChain(tx, c)
	}
	ipKey := "ipv4_addr . inet_proto . inet_service : verdict"
	tx.Add(&knftables.Set{Name: "nodeport-ips", Type: "ipv4_addr"})
	tx.Flush(&knftables.Set{Name: "nodeport-ips"})
	tx.Add(&knftables.Element{Set: "nodeport-ips", Key: []string{nodeIP.String()}})
	for _, m := range []*knftables.Map{
		{Name: "no-endpoint-services", Type: ipKey}, {Name: "no-endpoint-nodeports", Type: "inet_proto . inet_service : verdict"},
		{Name: "firewall-ips", Type: ipKey}, {Name: kpServiceIPs, Type: ipKey},
		{Name: "service-nodeports", Type: "inet_proto . inet_service : verdict"},
	} {
		tx.Add(m)
		tx.Flush(m)
	}
	for _, r := range [][2]string{
		{"filter-input", "ct state new jump endpoints-check"},
		{"filter-forward", "ct state new jump endpoints-check"},
		{"filter-output", "ct state new jump endpoints-check"},
		{"filter-prerouting", "ct state new jump firewall-check"},
		{"filter-output", "ct state new jump firewall-check"},
		{"nat-output", "jump " + kpServices},
		{"nat-prerouting", "jump " + kpServices},
		{"nat-postrouting", "jump " + kpMasquerade},
		{kpMarkMasq, "mark set mark or " + kpMasqMark},
		{kpMasquerade, "mark and " + kpMasqMark + " == 0 return"},
		{kpMasquerade, "mark set mark xor " + kpMasqMark},
		{kpMasquerade, "masquerade fully-random"},
		{"reject-chain", "reject"},
		{"endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services"},
		{"endpoints-check", "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"},
		{"firewall-check", "ip daddr . meta l4proto . th dport vmap @firewall-ips"},
		{kpServices, "ip daddr . meta l4proto . th dport vmap @" + kpServiceIPs},
		{kpServices, "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"},
	} {
		tx.Add(&knftables.Rule{Chain: r[0], Rule: r[1]})
	}
}

// kubeProxyLayout loads services into the kube-proxy-bench table with the real nft.
type kubeProxyLayout struct {
	nft    knftables.Interface
	nodeIP netip.Addr
}

func newKubeProxyLayout(nodeIP netip.Addr) (*kubeProxyLayout, error) {
	nft, err := knftables.New(knftables.IPv4Family, kpTable)
	if err != nil {
		return nil, fmt.Errorf("nftables for table ip %s: %w", kpTable, err)
	}
	return &kubeProxyLayout{nft: nft, nodeIP: nodeIP}, nil
}

// fullLoad runs one full-sync transaction holding svcs and returns how long nft took.
func (k *kubeProxyLayout) fullLoad(ctx context.Context, svcs []benchService) (time.Duration, error) {
	tx := k.nft.NewTransaction()
	kpSkeleton(tx, k.nodeIP)
	for _, s := range svcs {
		kpAddService(tx, s)
	}
	start := time.Now()
	if err := k.nft.Run(ctx, tx); err != nil {
		return 0, fmt.Errorf("kube-proxy layout: full load of %d services: %w", len(svcs), err)
	}
	return time.Since(start), nil
}

// addOne times the transaction that adds one service (chains, rules, element), then removes
// the service again, untimed.
func (k *kubeProxyLayout) addOne(ctx context.Context, s benchService) (time.Duration, error) {
	tx := k.nft.NewTransaction()
	kpAddService(tx, s)
	start := time.Now()
	if err := k.nft.Run(ctx, tx); err != nil {
		return 0, fmt.Errorf("kube-proxy layout: add %s: %w", s.name, err)
	}
	d := time.Since(start)
	del := k.nft.NewTransaction()
	kpDeleteService(del, s)
	if err := k.nft.Run(ctx, del); err != nil {
		return 0, fmt.Errorf("kube-proxy layout: delete %s: %w", s.name, err)
	}
	return d, nil
}

func (k *kubeProxyLayout) cleanup(ctx context.Context) error {
	tx := k.nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	if err := k.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("delete table ip %s: %w", kpTable, err)
	}
	return nil
}
