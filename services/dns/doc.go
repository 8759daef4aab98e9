// Package dns is podnet's cluster DNS server: it answers the Kubernetes DNS-Based Service
// Discovery specification (schema 1.1.0) for the cluster zone, exactly as CoreDNS's
// `kubernetes` plugin does with its default settings (`pods verified`, `fallthrough in-addr.arpa
// ip6.arpa`, `ttl 5`), and forwards every other name to the node's upstream resolvers, as
// CoreDNS's `forward . /etc/resolv.conf`, `cache` and `loop` plugins do.
//
// It owns:
//   - the Index of Namespaces, Services, EndpointSlices and Pods (fed by Set/Delete methods or by
//     a list-then-watch of the store), published to queries as immutable snapshots;
//   - the answers: pure functions of a snapshot and a question (lookup.go, answer.go);
//   - forwarding: resolv.conf parsing, upstream exchange with TCP retry, the positive and
//     negative cache, and loop detection (resolvconf.go, forward.go, cache.go, loop.go);
//   - the UDP (SO_REUSEPORT, one socket per two CPUs) and TCP listeners (server.go); UDP on a
//     given address is podnet's own loop (udp.go, mmsg.go): batches of datagrams per recvmmsg
//     and sendmmsg, and a question already answered is answered again from its kept packed
//     reply (wire.go), valid for the index snapshot and forwarding-cache entry it was made from;
//   - Prometheus-text metrics (metrics.go).
//
// The kube-dns Service, its endpoints and the daemon wiring live elsewhere (cmd/, services/).
package dns
