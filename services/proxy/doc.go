// Package proxy is podnet's service proxy: it programs Services and their EndpointSlices into
// one nftables table (`podnet`, one Proxy per address family), the way kube-proxy's nftables
// mode does, but built for scale: one chain per service port with its endpoints inline, global
// verdict maps and sets for everything keyed (no per-service sets on the common path), and
// partial syncs that diff against what was last committed, kept in memory, instead of listing
// the table.
//
// It owns: the desired-state model (a pure function from a Service and its slices to chains,
// rules and map elements), the renderer (desired vs committed into one transaction of
// knftables objects), the netlink backend (the transaction as the messages nft would send for
// it, in one atomic batch: a full sync replaces the table, a partial sync touches what changed;
// nft -f only for what the translator does not know), the sync loop (list-then-watch of the store,
// coalesced dirty services, full sync after a failure or when the table was flushed behind its
// back) and the UDP conntrack cleanup after endpoint changes.
package proxy
