// Package netplug is the logic of podnet's CNI plugin, netplug: it owns the
// pod bridge (default podnet0) and its gateway addresses, one veth pair per
// attachment (host side pn<hash>, hairpin on), the plugin's own persistent
// IPAM store under <dataDir>/<network>/ (one address per range: IPv4, IPv6
// or both, with creation times so that GC spares attachments younger than
// gcGracePeriod), the node sysctls the bridge needs, and the CNI verbs ADD,
// CHECK, DEL, GC and STATUS (which only looks). nftables rules (masquerade,
// hostPorts; a table per family) are delegated to a Firewall, which
// NftFirewall implements on netplug/nft; cmd/netplug only wires the pieces
// to skel.
package netplug
