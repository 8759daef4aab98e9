package nft

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/knftables"
)

// DefaultTable is the table netplug owns when Config.Table is empty.
const DefaultTable = "netplug"

// MasqueradeMark is the packet-mark bit the hostPort DNAT sets on hairpin and localhost traffic
// so that postrouting masquerades it. kube-proxy (and podnet's proxy) use 0x4000; this bit is
// distinct so that neither clears the other's.
const MasqueradeMark = 0x2000

// Chain names inside the table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainHostPorts   = "hostports"
	chainHairpinMasq = "hairpin-masquerade"
	chainPodMasq     = "pod-masquerade"
	containerPrefix  = "hp-"
)

// attempts is how often a call is tried when a concurrent process changed the table between
// our listing and our commit.
const attempts = 10

// Config selects the table netplug owns.
type Config struct {
	Table  string           // default "netplug"
	Family knftables.Family // default knftables.IPv4Family; IPv6Family also works
}

// PortMapping is what CNI's portMappings capability passes.
type PortMapping struct {
	HostPort, ContainerPort uint16
	Protocol                string     // tcp, udp or sctp; empty means tcp
	HostIP                  netip.Addr // invalid or unspecified: every local address
}

// Rules programs netplug's table. It is safe for concurrent use by one process.
type Rules struct {
	cfg Config
	nft knftables.Interface
	mu  sync.Mutex
}

// New returns Rules working through nft, which must be bound to cfg's family and table
// (knftables.New(cfg.Family, cfg.Table) or knftables.NewFake with the same).
func New(cfg Config, nft knftables.Interface) *Rules {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Family == "" {
		cfg.Family = knftables.IPv4Family
	}
	return &Rules{cfg: cfg, nft: nft}
}

// ipx returns the nft expression prefix for addresses of the table's family.
func (r *Rules) ipx() (string, error) {
	switch r.cfg.Family {
	case knftables.IPv4Family:
		return "ip", nil
	case knftables.IPv6Family:
		return "ip6", nil
	default:
		return "", fmt.Errorf("nft: family %q not supported (want ip or ip6)", r.cfg.Family)
	}
}

func (r *Rules) sameFamily(a netip.Addr) bool {
	return a.Is4() == (r.cfg.Family == knftables.IPv4Family)
}

// EnsureBase creates the table, its chains and the masquerade rule for podCIDR: traffic from
// podCIDR to anything outside podCIDR is masqueraded (postrouting nat, priority 100), and packets
// marked by the hostPort DNAT for hairpin are masqueraded too. Idempotent.
func (r *Rules) EnsureBase(ctx context.Context, podCIDR netip.Prefix) error {
	ipx, err := r.ipx()
	if err != nil {
		return err
	}
	if !podCIDR.IsValid() || !r.sameFamily(podCIDR.Addr()) {
		return fmt.Errorf("nft: pod CIDR %q is not a valid %s prefix", podCIDR, r.cfg.Family)
	}
	podCIDR = podCIDR.Masked()
	comment := baseVersion + ", pod range " + podCIDR.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retry(ctx, "ensure base rules", func(bool) (*knftables.Transaction, error) {
		ok, err := r.baseInShape(ctx, comment)
		if err != nil || ok {
			return nil, err
		}
		tx := r.nft.NewTransaction()
		r.addInfra(tx)
		tx.Flush(&knftables.Chain{Name: chainPodMasq})
		tx.Add(&knftables.Rule{
			Chain:   chainPodMasq,
			Rule:    knftables.Concat(ipx, "saddr", podCIDR, ipx, "daddr", "!=", podCIDR, "masquerade"),
			Comment: &comment,
		})
		return tx, nil
	})
}

// baseVersion names the layout of the fixed chains; change it when their rules change, so that
// EnsureBase rewrites tables made by an older netplug.
const baseVersion = "netplug base v1"

// baseRuleCounts is how many rules each fixed chain holds.
var baseRuleCounts = map[string]int{
	chainPrerouting: 1, chainOutput: 1, chainPostrouting: 2, chainHairpinMasq: 3, chainPodMasq: 1,
}

// baseInShape reports whether the fixed chains hold their rules, pod-masquerade's carrying
// comment. It is what keeps EnsureBase, called on every ADD, cheap: on the kernels measured
// (6.18) a transaction that deletes anything (a flush included) or fails waits for an RCU grace
// period, about 11 ms, while one listing costs about 2 ms. The check is by rule count and comment,
// not rule text (nft's JSON listing is not parsed back into rules); hostports and the container
// chains exist whenever the jumps to them do.
func (r *Rules) baseInShape(ctx context.Context, comment string) (bool, error) {
	rules, err := r.nft.ListRules(ctx, "")
	if knftables.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list rules of table: %w", err)
	}
	counts := map[string]int{}
	for _, rule := range rules {
		if _, fixed := baseRuleCounts[rule.Chain]; !fixed {
			continue
		}
		counts[rule.Chain]++
		if rule.Chain == chainPodMasq && (rule.Comment == nil || *rule.Comment != comment) {
			return false, nil
		}
	}
	return maps.Equal(counts, baseRuleCounts), nil
}

// addInfra adds the table and every fixed chain, and rewrites the rules of the fixed chains
// (flush, then add) so that a damaged table heals. pod-masquerade's rule is left to EnsureBase.
func (r *Rules) addInfra(tx *knftables.Transaction) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("netplug CNI plugin")})
	for _, c := range []struct {
		name     string
		hook     knftables.BaseChainHook
		priority knftables.BaseChainPriority
	}{
		{chainPrerouting, knftables.PreroutingHook, knftables.DNATPriority},
		{chainOutput, knftables.OutputHook, knftables.DNATPriority},
		{chainPostrouting, knftables.PostroutingHook, knftables.SNATPriority},
	} {
		tx.Add(&knftables.Chain{
			Name:     c.name,
			Type:     knftables.PtrTo(knftables.NATType),
			Hook:     knftables.PtrTo(c.hook),
			Priority: knftables.PtrTo(c.priority),
		})
	}
	for _, name := range []string{chainHostPorts, chainHairpinMasq, chainPodMasq} {
		tx.Add(&knftables.Chain{Name: name})
	}
	for _, name := range []string{chainPrerouting, chainOutput, chainPostrouting, chainHairpinMasq} {
		tx.Flush(&knftables.Chain{Name: name})
	}
	for _, name := range []string{chainPrerouting, chainOutput} {
		tx.Add(&knftables.Rule{Chain: name, Rule: "fib daddr type local jump " + chainHostPorts})
	}
	tx.Add(&knftables.Rule{Chain: chainPostrouting, Rule: "jump " + chainHairpinMasq})
	tx.Add(&knftables.Rule{Chain: chainPostrouting, Rule: "jump " + chainPodMasq})
	mark := fmt.Sprintf("0x%x", MasqueradeMark)
	tx.Add(&knftables.Rule{Chain: chainHairpinMasq, Rule: "meta mark & " + mark + " == 0 return"})
	tx.Add(&knftables.Rule{Chain: chainHairpinMasq, Rule: "meta mark set meta mark xor " + mark})
	tx.Add(&knftables.Rule{Chain: chainHairpinMasq, Rule: "masquerade"})
}

// ContainerChain is the name of the chain holding containerID's port mappings.
func ContainerChain(containerID string) string {
	sum := sha256.Sum256([]byte(containerID))
	return containerPrefix + hex.EncodeToString(sum[:8])
}

// validID reports whether id is a CNI container ID (alphanumerics, '_', '.', '-') that fits in
// an nftables comment (128 bytes).
func validID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("nft: container ID %q: must be 1 to 128 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("nft: container ID %q: invalid character %q", id, c)
		}
	}
	return nil
}

// mappingRules returns the rules of one container's chain.
func (r *Rules) mappingRules(podIP netip.Addr, pms []PortMapping) ([]string, error) {
	ipx, err := r.ipx()
	if err != nil {
		return nil, err
	}
	localhost := "127.0.0.0/8"
	if ipx == "ip6" {
		localhost = "::1"
	}
	var out []string
	for _, pm := range pms {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("nft: port mapping %d: protocol %q not supported", pm.HostPort, pm.Protocol)
		}
		if pm.HostPort == 0 || pm.ContainerPort == 0 {
			return nil, fmt.Errorf("nft: port mapping %d->%d: ports must be non-zero", pm.HostPort, pm.ContainerPort)
		}
		var match []string
		if pm.HostIP.IsValid() && !pm.HostIP.IsUnspecified() {
			if !r.sameFamily(pm.HostIP) {
				continue // the other family's table serves it, as the portmap plugin does
			}
			match = append(match, ipx, "daddr", pm.HostIP.Unmap().String())
		}
		match = append(match, proto, "dport", strconv.Itoa(int(pm.HostPort)))
		m := strings.Join(match, " ")
		out = append(out,
			fmt.Sprintf("%s %s saddr { %s, %s } meta mark set meta mark | 0x%x", m, ipx, podIP, localhost, MasqueradeMark),
			fmt.Sprintf("%s dnat to %s", m, netip.AddrPortFrom(podIP, pm.ContainerPort)),
		)
	}
	return out, nil
}

// AddPortMappings DNATs node-IP:hostPort (any local address when HostIP is unset) to
// podIP:containerPort for traffic arriving from outside (prerouting) and from the node itself
// (output), and marks hairpin (the pod reaching its own hostPort) and localhost traffic for
// masquerade. It replaces what an earlier call made for containerID. Mappings whose HostIP is of
// the other family are skipped. An empty pms removes the container's mappings.
func (r *Rules) AddPortMappings(ctx context.Context, containerID string, podIP netip.Addr, pms []PortMapping) error {
	if err := validID(containerID); err != nil {
		return err
	}
	podIP = podIP.Unmap()
	if !podIP.IsValid() || !r.sameFamily(podIP) {
		return fmt.Errorf("nft: pod IP %q is not a valid %s address", podIP, r.cfg.Family)
	}
	rules, err := r.mappingRules(podIP, pms)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return r.RemovePortMappings(ctx, containerID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	chain := ContainerChain(containerID)
	return r.retry(ctx, "add port mappings for "+containerID, func(full bool) (*knftables.Transaction, error) {
		jumps, err := r.jumps(ctx)
		if err != nil {
			return nil, err
		}
		tx := r.nft.NewTransaction()
		if full { // the table or hostports is missing: make them, rules included
			r.addInfra(tx)
		}
		tx.Add(&knftables.Chain{Name: chain, Comment: knftables.PtrTo(containerID)})
		tx.Flush(&knftables.Chain{Name: chain})
		for _, rule := range rules {
			tx.Add(&knftables.Rule{Chain: chain, Rule: rule})
		}
		// Replace the jump rather than keep it: had a concurrent removal deleted it since the
		// listing, deleting it by handle fails the transaction and the retry starts afresh,
		// instead of committing a chain that nothing reaches.
		for _, rule := range jumps[containerID] {
			tx.Delete(rule)
		}
		tx.Add(&knftables.Rule{Chain: chainHostPorts, Rule: "jump " + chain, Comment: knftables.PtrTo(containerID)})
		return tx, nil
	})
}

// RemovePortMappings removes what AddPortMappings made for containerID; missing is success.
func (r *Rules) RemovePortMappings(ctx context.Context, containerID string) error {
	if err := validID(containerID); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retry(ctx, "remove port mappings of "+containerID, func(bool) (*knftables.Transaction, error) {
		return r.removeTx(ctx, func(id string) bool { return id != containerID })
	})
}

// GC removes the port mappings of every containerID not in valid, and any container chain that
// no jump reaches.
func (r *Rules) GC(ctx context.Context, valid map[string]bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retry(ctx, "garbage-collect port mappings", func(bool) (*knftables.Transaction, error) {
		chains, err := r.nft.List(ctx, "chains")
		if knftables.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list chains: %w", err)
		}
		var candidates []string
		for _, c := range chains {
			if strings.HasPrefix(c, containerPrefix) {
				candidates = append(candidates, c)
			}
		}
		return r.removeTx(ctx, func(id string) bool { return valid[id] }, candidates...)
	})
}

// removeTx builds the transaction deleting the jump and chain of every container for which
// keep is false, and every chain in candidates no kept jump reaches. Chains are deleted with
// add+delete, so one that a concurrent call already removed is no error; jumps are deleted by
// handle, so one removed concurrently fails the transaction and the caller retries. It returns
// nil when there is nothing to do, including when the table does not exist.
func (r *Rules) removeTx(ctx context.Context, keep func(id string) bool, candidates ...string) (*knftables.Transaction, error) {
	rules, err := r.nft.ListRules(ctx, chainHostPorts)
	if knftables.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rules of chain %s: %w", chainHostPorts, err)
	}
	tx := r.nft.NewTransaction()
	kept := map[string]bool{}
	var drop []string
	for _, rule := range rules {
		id := ""
		if rule.Comment != nil {
			id = *rule.Comment
		}
		if keep(id) {
			if id != "" {
				kept[ContainerChain(id)] = true
			}
			continue
		}
		tx.Delete(rule)
		if id != "" {
			drop = append(drop, ContainerChain(id))
		}
	}
	for _, c := range append(drop, candidates...) {
		if !kept[c] {
			kept[c] = true // once
			tx.Add(&knftables.Chain{Name: c})
			tx.Delete(&knftables.Chain{Name: c})
		}
	}
	if tx.NumOperations() == 0 {
		return nil, nil
	}
	return tx, nil
}

// Owned lists the containerIDs that currently have rules, sorted.
func (r *Rules) Owned(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	jumps, err := r.jumps(ctx)
	if err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	ids := make([]string, 0, len(jumps))
	for id := range jumps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// jumps returns the rules of the hostports chain by the containerID in their comment
// (uncommented rules under ""). A missing table or chain is no rules.
func (r *Rules) jumps(ctx context.Context) (map[string][]*knftables.Rule, error) {
	rules, err := r.nft.ListRules(ctx, chainHostPorts)
	if knftables.IsNotFound(err) {
		return map[string][]*knftables.Rule{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list rules of chain %s: %w", chainHostPorts, err)
	}
	out := make(map[string][]*knftables.Rule, len(rules))
	for _, rule := range rules {
		id := ""
		if rule.Comment != nil {
			id = *rule.Comment
		}
		out[id] = append(out[id], rule)
	}
	return out, nil
}

// retry builds and runs a transaction, rebuilding it from a fresh listing when a concurrent
// process changed the table in between (nftables rejects the commit as a whole, so a failed
// attempt changed nothing). build gets full=false first and full=true once an attempt failed
// with "not found" (a chain or the table is missing). A nil transaction means nothing to do.
func (r *Rules) retry(ctx context.Context, what string, build func(full bool) (*knftables.Transaction, error)) error {
	var last error
	full := false
	for range attempts {
		tx, err := build(full)
		if err != nil {
			return fmt.Errorf("nft: %s: %w", what, err)
		}
		if tx == nil {
			return nil
		}
		last = r.nft.Run(ctx, tx)
		if last == nil {
			return nil
		}
		if knftables.IsNotFound(last) && !full {
			full = true
			continue // straight away: this is the first ADD on the node, not a race
		}
		if !(knftables.IsNotFound(last) || knftables.IsAlreadyExists(last) || isBusy(last)) {
			break
		}
		select { // a little jitter so that racing processes do not collide again in step
		case <-ctx.Done():
			return fmt.Errorf("nft: %s: %w (after %w)", what, ctx.Err(), last)
		case <-time.After(time.Duration(rand.IntN(2000)) * time.Microsecond):
		}
	}
	return fmt.Errorf("nft: %s in table %s %s: %w", what, r.cfg.Family, r.cfg.Table, last)
}

// isBusy reports whether nft refused to delete a chain still jumped to (a concurrent ADD).
func isBusy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "resource busy")
}
