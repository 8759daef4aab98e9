// Package netplug is the logic of podnet's CNI plugin, netplug: it owns the
// pod bridge (default podnet0) and its gateway address, one veth pair per
// attachment (host side pn<hash>, hairpin on), the plugin's own persistent
// IPAM store under <dataDir>/<network>/, the node sysctls the bridge needs,
// and the CNI verbs ADD, CHECK, DEL, GC and STATUS. nftables rules
// (masquerade, hostPorts) are delegated to a Firewall, which
// netplug/nft implements; cmd/netplug only wires the pieces to skel.
package netplug
