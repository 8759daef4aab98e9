package allocator

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	clusterIPsPath     = field.NewPath("spec", "clusterIPs")
	ipFamiliesPath     = field.NewPath("spec", "ipFamilies")
	ipFamilyPolicyPath = field.NewPath("spec", "ipFamilyPolicy")
)

// initIPFamilyFields fills ipFamilyPolicy and ipFamilies the way kube-apiserver does on a
// single-stack cluster, and refuses what this cluster cannot serve. old is nil on create.
func (a *Allocator) initIPFamilyFields(svc, old *corev1.Service) error {
	if !needsClusterIP(svc) {
		return nil
	}
	defaultIPFamilyPolicy(svc, old)
	errs := checkClusterIPSyntax(svc)
	if len(errs) == 0 {
		errs = append(errs, reconcileWithOld(svc, old)...)
		errs = append(errs, checkSingleStack(svc)...)
		errs = append(errs, a.inferFamilies(svc)...)
	}
	if len(errs) > 0 {
		return &InvalidError{Errors: errs}
	}
	if isHeadless(svc) && len(svc.Spec.Selector) == 0 {
		a.headlessSelectorlessFamilies(svc)
		return nil
	}
	if errs := a.checkFamiliesConfigured(svc); len(errs) > 0 {
		return &InvalidError{Errors: errs}
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{a.family()}
	}
	return nil
}

// defaultIPFamilyPolicy keeps an update from silently switching stack modes: the old policy
// carries over, a new one is SingleStack, except for headless selectorless Services which upstream
// makes RequireDualStack.
func defaultIPFamilyPolicy(svc, old *corev1.Service) {
	if svc.Spec.IPFamilyPolicy != nil {
		return
	}
	policy := corev1.IPFamilyPolicySingleStack
	switch {
	case old != nil && old.Spec.IPFamilyPolicy != nil:
		policy = *old.Spec.IPFamilyPolicy
	case svc.Spec.ClusterIP == corev1.ClusterIPNone && len(svc.Spec.Selector) == 0:
		policy = corev1.IPFamilyPolicyRequireDualStack
	}
	svc.Spec.IPFamilyPolicy = &policy
}

func checkClusterIPSyntax(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range svc.Spec.ClusterIPs {
		if ip == corev1.ClusterIPNone || ip == "" {
			continue
		}
		errs = append(errs, validation.IsValidIP(clusterIPsPath.Index(i), ip)...)
	}
	return errs
}

// reconcileWithOld handles an update that drops the secondary IP or family.
func reconcileWithOld(svc, old *corev1.Service) field.ErrorList {
	if old == nil {
		return nil
	}
	if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack {
		// Same values and SingleStack is clear intent; clusterIPs[0] is immutable, so it is safe to keep.
		if sameStrings(old.Spec.ClusterIPs, svc.Spec.ClusterIPs) && len(svc.Spec.ClusterIPs) > 1 {
			svc.Spec.ClusterIPs = svc.Spec.ClusterIPs[:1]
		}
		if sameFamilies(old.Spec.IPFamilies, svc.Spec.IPFamilies) && len(svc.Spec.IPFamilies) > 1 {
			svc.Spec.IPFamilies = svc.Spec.IPFamilies[:1]
		}
		return nil
	}
	var errs field.ErrorList
	if len(svc.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) < len(old.Spec.ClusterIPs) {
		errs = append(errs, field.Invalid(ipFamilyPolicyPath, svc.Spec.IPFamilyPolicy, "must be 'SingleStack' to release the secondary cluster IP"))
	}
	if len(svc.Spec.IPFamilies) > 0 && len(svc.Spec.IPFamilies) < len(old.Spec.IPFamilies) {
		errs = append(errs, field.Invalid(ipFamilyPolicyPath, svc.Spec.IPFamilyPolicy, "must be 'SingleStack' to release the secondary IP family"))
	}
	return errs
}

func checkSingleStack(svc *corev1.Service) field.ErrorList {
	if *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		return nil
	}
	var errs field.ErrorList
	if len(svc.Spec.ClusterIPs) == 2 {
		errs = append(errs, field.Invalid(ipFamilyPolicyPath, svc.Spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
	}
	if len(svc.Spec.IPFamilies) == 2 {
		errs = append(errs, field.Invalid(ipFamilyPolicyPath, svc.Spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
	}
	return errs
}

// inferFamilies appends the family of each requested clusterIP that has no ipFamilies entry yet.
func (a *Allocator) inferFamilies(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range svc.Spec.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			break
		}
		if ip == "" || i < len(svc.Spec.IPFamilies) {
			continue
		}
		addr, _ := parseIP(ip) // checkClusterIPSyntax ran first
		fam := familyOfAddr(addr)
		if fam != a.family() {
			errs = append(errs, field.Invalid(clusterIPsPath.Index(i), svc.Spec.ClusterIPs, fmt.Sprintf("%s is not configured on this cluster", fam)))
			continue
		}
		svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, fam)
	}
	return errs
}

// headlessSelectorlessFamilies follows upstream: such a Service may list both families even on a
// single-stack cluster, since it never gets an address.
func (a *Allocator) headlessSelectorlessFamilies(svc *corev1.Service) {
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{a.family()}
	}
	if len(svc.Spec.IPFamilies) < 2 && *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, otherFamily(svc.Spec.IPFamilies[0]))
	}
}

func otherFamily(f corev1.IPFamily) corev1.IPFamily {
	if f == corev1.IPv4Protocol {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

func (a *Allocator) checkFamiliesConfigured(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(ipFamilyPolicyPath, svc.Spec.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
	}
	for i, fam := range svc.Spec.IPFamilies {
		if fam != a.family() {
			errs = append(errs, field.Invalid(ipFamiliesPath.Index(i), fam, "not configured on this cluster"))
		}
	}
	return errs
}
