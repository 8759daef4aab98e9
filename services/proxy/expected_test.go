package proxy

// Expected nft text per model case, reviewed by hand against the rules the design asks for.
var wantModel = map[string]string{
	"clusterip-2-endpoints": `add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }`,
	"no-endpoints": `add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet no-endpoint-services { 10.96.0.20 . tcp . 80 : goto reject-chain }`,
	"nodeport": `add chain ip podnet ext-ASLOK7LI-default/web/tcp/http
add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http meta mark set meta mark | 0x4000
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http goto svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }
add element ip podnet service-nodeports { tcp . 32000 : goto ext-ASLOK7LI-default/web/tcp/http }`,
	"loadbalancer-source-ranges": `add chain ip podnet ext-ASLOK7LI-default/web/tcp/http
add chain ip podnet fw-4WIWAP7T-default/web/tcp/http
add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http meta mark set meta mark | 0x4000
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http goto svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet fw-4WIWAP7T-default/web/tcp/http ip saddr 203.0.113.0/24 return
add rule ip podnet fw-4WIWAP7T-default/web/tcp/http drop
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet firewall-ips { 192.168.1.200 . tcp . 80 : goto fw-4WIWAP7T-default/web/tcp/http }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }
add element ip podnet service-ips { 192.168.1.200 . tcp . 80 : goto ext-ASLOK7LI-default/web/tcp/http }
add element ip podnet service-nodeports { tcp . 32000 : goto ext-ASLOK7LI-default/web/tcp/http }`,
	"external-ips": `add chain ip podnet ext-ASLOK7LI-default/web/tcp/http
add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http meta mark set meta mark | 0x4000
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http goto svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }
add element ip podnet service-ips { 198.51.100.7 . tcp . 80 : goto ext-ASLOK7LI-default/web/tcp/http }`,
	"external-traffic-policy-local": `add chain ip podnet ext-ASLOK7LI-default/web/tcp/http
add chain ip podnet local-2VZUY63M-default/web/tcp/http
add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http ip saddr 10.244.0.0/16 goto svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http fib saddr type local meta mark set meta mark | 0x4000 goto svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http goto local-2VZUY63M-default/web/tcp/http
add rule ip podnet local-2VZUY63M-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }
add element ip podnet service-nodeports { tcp . 32000 : goto ext-ASLOK7LI-default/web/tcp/http }`,
	"internal-traffic-policy-local": `add chain ip podnet local-2VZUY63M-default/web/tcp/http
add rule ip podnet local-2VZUY63M-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.5:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto local-2VZUY63M-default/web/tcp/http }`,
	"internal-traffic-policy-local-none-here": `add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet no-endpoint-services { 10.96.0.20 . tcp . 80 : drop }`,
	"client-ip-affinity": `add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add set ip podnet aff-HJGJM6HR-default/web/tcp/http-10.244.0.5.8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }
add set ip podnet aff-WOMWJ5Q5-default/web/tcp/http-10.244.0.6.8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http ip saddr @aff-HJGJM6HR-default/web/tcp/http-10.244.0.5.8080 update @aff-HJGJM6HR-default/web/tcp/http-10.244.0.5.8080 { ip saddr } meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http ip saddr @aff-WOMWJ5Q5-default/web/tcp/http-10.244.0.6.8080 update @aff-WOMWJ5Q5-default/web/tcp/http-10.244.0.6.8080 { ip saddr } meta l4proto tcp dnat to 10.244.0.6:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 update @aff-HJGJM6HR-default/web/tcp/http-10.244.0.5.8080 { ip saddr } meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http update @aff-WOMWJ5Q5-default/web/tcp/http-10.244.0.6.8080 { ip saddr } meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }`,
	"terminating-fallback": `add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.5:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }`,
	"terminating-fallback-serving-unset": `add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.5:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }`,
	"source-ranges-other-family": `add chain ip podnet ext-ASLOK7LI-default/web/tcp/http
add chain ip podnet svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http meta mark set meta mark | 0x4000
add rule ip podnet ext-ASLOK7LI-default/web/tcp/http goto svc-K4IXKQO6-default/web/tcp/http
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http numgen random mod 2 0 meta l4proto tcp dnat to 10.244.0.5:8080
add rule ip podnet svc-K4IXKQO6-default/web/tcp/http meta l4proto tcp dnat to 10.244.0.6:8080
add element ip podnet cluster-ips { 10.96.0.20 }
add element ip podnet hairpin { 10.244.0.5 . 10.244.0.5 }
add element ip podnet hairpin { 10.244.0.6 . 10.244.0.6 }
add element ip podnet service-ips { 10.96.0.20 . tcp . 80 : goto svc-K4IXKQO6-default/web/tcp/http }
add element ip podnet service-ips { 192.168.1.200 . tcp . 80 : goto ext-ASLOK7LI-default/web/tcp/http }
add element ip podnet service-nodeports { tcp . 32000 : goto ext-ASLOK7LI-default/web/tcp/http }`,
	"udp": `add chain ip podnet svc-HOY2ZU32-default/dns/udp/dns
add rule ip podnet svc-HOY2ZU32-default/dns/udp/dns meta l4proto udp dnat to 10.244.0.7:53
add element ip podnet cluster-ips { 10.96.0.10 }
add element ip podnet hairpin { 10.244.0.7 . 10.244.0.7 }
add element ip podnet service-ips { 10.96.0.10 . udp . 53 : goto svc-HOY2ZU32-default/dns/udp/dns }`,
	"external-name": ``,
}

// wantSkeleton is the table with no service.
const wantSkeleton = `add table ip podnet
add chain ip podnet cluster-ips-check
add chain ip podnet endpoints-check
add chain ip podnet filter-forward { type filter hook forward priority 0 ; }
add chain ip podnet filter-input { type filter hook input priority 0 ; }
add chain ip podnet filter-output { type filter hook output priority -110 ; }
add chain ip podnet filter-output-post-dnat { type filter hook output priority 0 ; }
add chain ip podnet filter-prerouting { type filter hook prerouting priority -110 ; }
add chain ip podnet masquerading
add chain ip podnet nat-output { type nat hook output priority -100 ; }
add chain ip podnet nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip podnet nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip podnet reject-chain
add chain ip podnet services
add set ip podnet cluster-ips { type ipv4_addr ; }
add set ip podnet hairpin { type ipv4_addr . ipv4_addr ; }
add set ip podnet nodeport-ips { type ipv4_addr ; }
add map ip podnet firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip podnet no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }
add map ip podnet no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip podnet service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip podnet service-nodeports { type inet_proto . inet_service : verdict ; }
add rule ip podnet cluster-ips-check ip daddr @cluster-ips goto reject-chain
add rule ip podnet cluster-ips-check ip daddr 10.96.0.0/12 drop
add rule ip podnet endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip podnet endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip podnet filter-forward ct state new jump endpoints-check
add rule ip podnet filter-forward ct state new jump cluster-ips-check
add rule ip podnet filter-input ct state new jump endpoints-check
add rule ip podnet filter-output ct state new ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip podnet filter-output-post-dnat ct state new jump endpoints-check
add rule ip podnet filter-output-post-dnat ct state new jump cluster-ips-check
add rule ip podnet filter-prerouting ip daddr 10.96.0.0/12 ip saddr != 10.244.0.0/16 fib saddr type != local drop
add rule ip podnet filter-prerouting ct state new ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip podnet masquerading ct status dnat ip saddr . ip daddr @hairpin masquerade
add rule ip podnet masquerading meta mark & 0x4000 == 0 return
add rule ip podnet masquerading meta mark set meta mark ^ 0x4000
add rule ip podnet masquerading masquerade fully-random
add rule ip podnet nat-output jump services
add rule ip podnet nat-postrouting jump masquerading
add rule ip podnet nat-prerouting ip daddr @cluster-ips ip saddr != 10.244.0.0/16 fib saddr type != local meta mark set meta mark | 0x4000
add rule ip podnet nat-prerouting jump services
add rule ip podnet reject-chain meta l4proto tcp reject with tcp reset
add rule ip podnet reject-chain reject
add rule ip podnet services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip podnet services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip podnet nodeport-ips { 192.168.1.10 }`
