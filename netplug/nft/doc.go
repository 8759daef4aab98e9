// Package nft owns netplug's nftables rules: one table per family (`ip netplug` by default) that
// only netplug writes, holding the masquerade for traffic leaving the pod range and the hostPort
// DNAT of CNI's portMappings capability.
//
// Every call is one atomic nftables transaction through sigs.k8s.io/knftables; the plugin runs
// as one process per CNI call, so correctness across processes comes from those transactions
// (and a short retry when a concurrent call changed the table between a listing and a commit).
//
// Layout of the table (family ip; ip6 uses the same names):
//
//	prerouting   nat hook prerouting priority dstnat:  fib daddr type local jump hostports
//	output       nat hook output priority dstnat:      fib daddr type local jump hostports
//	postrouting  nat hook postrouting priority srcnat: jump hairpin-masquerade; jump pod-masquerade
//	hostports           one "jump hp-<hash>" rule per container, commented with its containerID
//	hp-<hash>           that container's mappings: mark hairpin/localhost sources, then DNAT
//	hairpin-masquerade  masquerade packets carrying MasqueradeMark (and clear the bit)
//	pod-masquerade      ip saddr <podCIDR> ip daddr != <podCIDR> masquerade
//
// Why per-container chains rather than one DNAT map keyed by hostPort: a map element is keyed by
// what it matches (protocol, port), not by who owns it, so "delete container A's mapping" cannot
// be said atomically when a stale container A and a new container B briefly claim the same
// hostPort (ADD A, crash, ADD B, DEL A would delete B's element). A chain named after the
// container's ID, reached by one jump rule whose comment is that ID, is removed exactly: delete
// that jump (by handle) and that chain, in one transaction. nftables refuses to delete a chain
// that is still jumped to, so a GC racing an ADD fails and retries instead of breaking it.
// HostPorts are few per node, so the linear walk of the hostports chain costs nothing measurable.
//
// Cost (kernel 6.18, nft 1.0.6, measured by BenchmarkRealNFT): EnsureBase on a table in shape is
// one listing, about 2.5 ms, and commits nothing; AddPortMappings about 8 ms; RemovePortMappings
// about 2.5 ms when the container has no mappings and about 17 ms when it has (any transaction
// that deletes waits for an RCU grace period).
package nft
