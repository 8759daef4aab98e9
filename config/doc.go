// Package config owns the configuration of `podnet serve`: the typed structs and their defaults,
// the optional YAML file, the command-line flags that override it, the single validation pass,
// node IP and node name detection, and the slog logger the configuration asks for.
//
// Precedence, lowest first: Default(), then the file given with --config (decoded strictly: an
// unknown or duplicated key is an error naming the key and the file), then every flag the user set
// on the command line (pflag's Changed; a flag left at its default never overrides the file).
// Complete fills nodeName and nodeIP when they are empty, and Validate (or Parse, which also
// returns the typed values) reports every problem at once, one `field: message` line each.
//
// The file uses camelCase keys (they are json struct tags, because sigs.k8s.io/yaml converts YAML
// to JSON before decoding). Every key is optional; this is the whole shape with the defaults:
//
//	dataDir: /var/lib/podnet        # state: store, images, pki, kubeconfig, cni/net.d
//	runDir: /run/podnet             # runtime state: netns pins, sockets, shims
//	nodeName: ""                    # "" = the hostname, lowercased (must be a DNS-1123 subdomain)
//	nodeIP: ""                      # "" = first global IPv4 address of the default-route interface
//	api:
//	  port: 6443                    # served on the node IP and on 127.0.0.1
//	network:
//	  clusterCIDR: 10.244.0.0/16    # pod addresses
//	  podCIDR: ""                   # this node's range; "" = the first /24 of clusterCIDR
//	  serviceCIDR: 10.96.0.0/12     # ClusterIPs; its first address is the kubernetes service
//	  clusterDNS: 10.96.0.10        # kube-dns ClusterIP, inside serviceCIDR
//	  nodePortRange: 30000-32767
//	  clusterDomain: cluster.local
//	  bridge: podnet0
//	  nftablesTable: podnet
//	  loadBalancerPools: []         # e.g. [192.168.100.0/28, 192.168.100.240-192.168.100.250]
//	  dnsPort: 53                   # cluster DNS on the node IP (kube-dns's target port)
//	  dnsResolvConf: /etc/resolv.conf  # upstreams for names outside clusterDomain
//	cni:
//	  binDirs: [/opt/cni/bin, /usr/lib/cni]
//	  confDir: ""                   # "" = <dataDir>/cni/net.d
//	runtime:
//	  executor: builtin             # builtin | runc | crun
//	log:
//	  level: info                   # debug | info | warn | error
//	  format: text                  # text | json
//
// Only IPv4 is accepted for addresses and CIDRs until dual-stack lands (the nftables table is
// family ip).
package config
