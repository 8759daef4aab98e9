// Package allocator owns the Service address space of a podnet node: ClusterIPs out of the service
// CIDR and NodePorts (including healthCheckNodePorts) out of the NodePort range. The API layer calls
// it at admission, inside its Service create, update and delete paths, exactly where kube-apiserver
// runs its ipallocator and portallocator.
//
// State is in memory only: one bitmap per range, rebuilt from the stored Services by Repair at
// start. Every call returns a Txn so that the caller can make the allocation follow the fate of its
// store write: Commit after the write succeeded (releases what the change gave up), Rollback after
// it failed (frees what was reserved, keeps what was going to be released). A server-side dry run
// is the call followed by Rollback. PrepareUpdate carries allocated values over to an update request
// (kube-apiserver's patchAllocatedValues and friends) and belongs before validation.
//
// Dynamic choice. Each range is split into a lower band, kept for static requests, and an upper band
// for dynamic allocation, as upstream does since KEP-3070 (ClusterIPs) and KEP-3668 (NodePorts): the
// lower band holds min(max(16, size/16), 256) addresses or min(max(16, size/32), 128) ports (none
// for ranges of 16 or fewer). A dynamic request starts at a random offset of the upper band and scans
// forward, wrapping within the band; only when the upper band is full does it do the same in the
// lower band. So people who pick well-known addresses or ports at the bottom of the range (10.96.0.10,
// 30080) rarely find them taken by a dynamic allocation.
//
// Addresses never handed out dynamically: the first address of the CIDR (the `kubernetes` service)
// and the DNS service address (kube-dns). A Service that asks for one of them explicitly gets it.
// The network address, and for IPv4 the broadcast address, are never handed out at all. An IPv6
// range is capped at its first 65,536 addresses, as upstream caps its bitmap.
//
// Errors: a request at fault (a taken or out-of-range IP or port) comes back as *InvalidError,
// holding the field.ErrorList the API wraps into an Invalid (422) status; any other error (an
// exhausted range: ErrFull) is internal (500).
package allocator
