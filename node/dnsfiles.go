package node

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DNSConfig is what the kubelet needs to write a pod's resolv.conf (kubelet's --cluster-dns,
// --cluster-domain and --resolv-conf).
type DNSConfig struct {
	ClusterDNS    []string
	ClusterDomain string
	// HostResolvConf is the content of the node's resolv.conf, for dnsPolicy Default.
	HostResolvConf string
}

// Limits kubelet applies (pkg/kubelet/network/dns): glibc reads at most 3 nameservers; a search
// path may hold 32 domains and 2048 characters.
const (
	maxNameservers    = 3
	maxSearchDomains  = 32
	maxSearchChars    = 2048
	defaultNdotsValue = "5"
)

type resolvConf struct {
	nameservers []string
	searches    []string
	options     []string
}

// resolvConfFor is the pod's /etc/resolv.conf by dnsPolicy and dnsConfig, as kubelet writes it.
func resolvConfFor(pod *corev1.Pod, cfg DNSConfig) string {
	host := parseResolvConf(cfg.HostResolvConf)
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		// ClusterFirst on the host network means Default, as kubelet's getPodDNSType says.
		policy = corev1.DNSDefault
	}
	var rc resolvConf
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		if len(cfg.ClusterDNS) == 0 {
			rc = host // kubelet falls back to Default when no cluster DNS is configured
			break
		}
		rc.nameservers = cfg.ClusterDNS
		d := cfg.ClusterDomain
		rc.searches = append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, host.searches...)
		rc.options = []string{"ndots:" + defaultNdotsValue}
	case corev1.DNSDefault:
		rc = host
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		rc.nameservers = dedup(append(slices.Clone(rc.nameservers), dc.Nameservers...))
		rc.searches = dedup(append(slices.Clone(rc.searches), dc.Searches...))
		rc.options = mergeOptions(rc.options, dc.Options)
	}
	return rc.render()
}

func (rc resolvConf) render() string {
	var b strings.Builder
	if s := trimSearches(rc.searches); len(s) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(s, " "))
	}
	ns := rc.nameservers
	if len(ns) > maxNameservers {
		ns = ns[:maxNameservers]
	}
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	if len(rc.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.options, " "))
	}
	return b.String()
}

func trimSearches(s []string) []string {
	if len(s) > maxSearchDomains {
		s = s[:maxSearchDomains]
	}
	for len(s) > 0 && len(strings.Join(s, " ")) > maxSearchChars {
		s = s[:len(s)-1]
	}
	return s
}

func parseResolvConf(content string) resolvConf {
	var rc resolvConf
	for _, line := range strings.Split(content, "\n") {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, f[1])
		case "search":
			rc.searches = f[1:] // the last search line wins, as in glibc
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

// mergeOptions adds dnsConfig's options; one with a name already present replaces it (so
// ndots:2 in dnsConfig replaces ndots:5), as kubelet's mergeDNSOptions does.
func mergeOptions(base []string, extra []corev1.PodDNSConfigOption) []string {
	var names []string
	vals := map[string]string{}
	add := func(name, val string) {
		if _, ok := vals[name]; !ok {
			names = append(names, name)
		}
		vals[name] = val
	}
	for _, o := range base {
		name, val, _ := strings.Cut(o, ":")
		add(name, val)
	}
	for _, o := range extra {
		v := ""
		if o.Value != nil {
			v = *o.Value
		}
		add(o.Name, v)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if vals[n] == "" {
			out = append(out, n)
		} else {
			out = append(out, n+":"+vals[n])
		}
	}
	return out
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	out := s[:0:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// hostsFileFor is the pod's /etc/hosts as kubelet writes it (pkg/kubelet/kubelet_pods.go).
func hostsFileFor(pod *corev1.Pod, podIPs []string, hostname, clusterDomain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if pod.Spec.Subdomain != "" {
			fqdn := fmt.Sprintf("%s.%s.%s.svc.%s", hostname, pod.Spec.Subdomain, pod.Namespace, clusterDomain)
			fmt.Fprintf(&b, "%s\t%s\t%s\n", ip, fqdn, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.String()
}

// podHostname is the pod's hostname: spec.hostname or the pod's name, cut to 63 characters
// (a DNS label) without a trailing '-' or '.', as kubelet's GeneratePodHostNameAndDomain does.
func podHostname(pod *corev1.Pod) string {
	h := pod.Name
	if pod.Spec.Hostname != "" {
		h = pod.Spec.Hostname
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}
