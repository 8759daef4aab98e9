// Package loadbalancer owns the LoadBalancer addresses of a podnet node: it allocates an ingress
// IP from the configured pools to every Service of type LoadBalancer that names no
// loadBalancerClass (a class means another implementation owns the Service, as upstream), writes
// it to status.loadBalancer.ingress (ipMode VIP) through the status subresource, and makes the
// node answer for it. The proxy reads that status and DNATs traffic to the address like any
// other Service address; this package never touches nftables.
//
// Allocation follows MetalLB's rules, the implementation people run on bare metal: the address a
// Service asks for (spec.loadBalancerIP, deprecated but still honoured, or the annotation
// metallb.io/loadBalancerIPs or metallb.universe.tf/loadBalancerIPs, one address per family),
// otherwise the first free address of the pools in the order configured, every address of a
// CIDR included. One address per IP family of the Service: its primary family always, the second
// one for RequireDualStack, and for PreferDualStack when a pool of that family exists. An
// address the Service cannot have (outside every pool, taken, pool exhausted) leaves the ingress
// empty, so kubectl shows EXTERNAL-IP <pending>, and records a Warning event with reason
// AllocationFailed; the Service is retried whenever another one lets an address go. With no
// pool at all nothing is allocated and no event recorded: the Service works as a NodePort one.
//
// State is in memory: at start the controller rebuilds it from the Services' status (a restart
// keeps every address; one outside the pools now is dropped and replaced), then makes the
// Announcer hold exactly the allocated addresses, which also removes what a crash left behind.
// Addresses are released when the Service is deleted, stops being of type LoadBalancer (its
// ingress is then cleared, as the cloud service controller does) or gets a loadBalancerClass.
//
// The netlink Announcer puts each address as a /32 or /128 on a dummy interface (podnet-lb),
// created with the first address and removed with the last: the kernel then answers ARP and
// neighbour solicitations for it on every interface, and the traffic reaches the proxy's DNAT.
// On kernels built without the dummy driver it makes a bridge with no ports of that name instead,
// which serves the same purpose.
package loadbalancer
