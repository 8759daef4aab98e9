package loadbalancer

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The annotations MetalLB reads for requested addresses, current name first.
const (
	AnnotationLoadBalancerIPs           = "metallb.io/loadBalancerIPs"
	DeprecatedAnnotationLoadBalancerIPs = "metallb.universe.tf/loadBalancerIPs"
)

// managed: a LoadBalancer Service no other implementation claims.
func managed(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// wantOf reads what svc asks for; an error is a request that can never be met as written.
func wantOf(svc *corev1.Service, hasFamily func(corev1.IPFamily) bool) (want, error) {
	w := want{families: familiesOf(svc), required: 1}
	if p := svc.Spec.IPFamilyPolicy; p != nil && *p == corev1.IPFamilyPolicyRequireDualStack {
		w.required = len(w.families)
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil && *p == corev1.IPFamilyPolicyPreferDualStack && len(w.families) > 1 && !hasFamily(w.families[1]) {
		w.families = w.families[:1]
	}
	req, err := requestedAddrs(svc)
	if err != nil {
		return want{}, err
	}
	if err := checkRequestedFamilies(req, w); err != nil {
		return want{}, err
	}
	w.requested = req
	return w, nil
}

// familiesOf is spec.ipFamilies, which the ClusterIP allocator always fills for a LoadBalancer
// Service; failing that, the family of its ClusterIP, or IPv4.
func familiesOf(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies
	}
	if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
		return []corev1.IPFamily{familyOf(a)}
	}
	return []corev1.IPFamily{corev1.IPv4Protocol}
}

// requestedAddrs reads the annotation or spec.loadBalancerIP, with MetalLB's messages.
func requestedAddrs(svc *corev1.Service) ([]netip.Addr, error) {
	name, list := requestAnnotation(svc)
	switch {
	case list != "" && svc.Spec.LoadBalancerIP != "":
		return nil, fmt.Errorf("service can not have both %s and svc.Spec.LoadBalancerIP", name)
	case list != "":
		var out []netip.Addr
		for _, s := range strings.Split(list, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("invalid %s: %q", name, list)
			}
			out = append(out, a.Unmap())
		}
		return out, nil
	case svc.Spec.LoadBalancerIP != "":
		a, err := netip.ParseAddr(svc.Spec.LoadBalancerIP)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("invalid spec.loadBalancerIP %q", svc.Spec.LoadBalancerIP)
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	return nil, nil
}

func requestAnnotation(svc *corev1.Service) (name, value string) {
	for _, k := range []string{AnnotationLoadBalancerIPs, DeprecatedAnnotationLoadBalancerIPs} {
		if v, ok := svc.Annotations[k]; ok {
			return k, v
		}
	}
	return AnnotationLoadBalancerIPs, ""
}

// checkRequestedFamilies allows one requested address per family of the Service, and every
// family it must have.
func checkRequestedFamilies(req []netip.Addr, w want) error {
	if len(req) == 0 {
		return nil
	}
	var fams []corev1.IPFamily
	for _, a := range req {
		f := familyOf(a)
		if slices.Contains(fams, f) || !slices.Contains(w.families, f) {
			return mismatch(req)
		}
		fams = append(fams, f)
	}
	for _, f := range w.families[:w.required] {
		if !slices.Contains(fams, f) {
			return mismatch(req)
		}
	}
	return nil
}

func mismatch(req []netip.Addr) error {
	return fmt.Errorf("requested loadBalancer IP(s) %q does not match the ipFamily of the service", texts(req))
}

func texts(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// ingressAddrs reads the addresses of a stored status; entries that are not IPs (hostnames,
// garbage) are not ours and are skipped.
func ingressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// ingressFor renders addrs as the status podnet writes: one VIP entry per address.
func ingressFor(addrs []netip.Addr) []corev1.LoadBalancerIngress {
	if len(addrs) == 0 {
		return nil
	}
	out := make([]corev1.LoadBalancerIngress, len(addrs))
	for i, a := range addrs {
		vip := corev1.LoadBalancerIPModeVIP
		out[i] = corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip}
	}
	return out
}

// sameIngress: the stored ingress already says exactly addrs, ipMode VIP.
func sameIngress(cur []corev1.LoadBalancerIngress, addrs []netip.Addr) bool {
	if len(cur) != len(addrs) {
		return false
	}
	for i, ing := range cur {
		vip := ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeVIP
		if ing.IP != addrs[i].String() || !vip || ing.Hostname != "" || len(ing.Ports) > 0 {
			return false
		}
	}
	return true
}
