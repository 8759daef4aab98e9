package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := validateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateClusterIPsChange(old, svc)...)
	errs = append(errs, validateIPFamiliesChange(old, svc)...)
	errs = append(errs, validateLoadBalancerClassChange(old, svc)...)
	if needsHealthCheck(old) && needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(specPath.Child("healthCheckNodePort"), "field is immutable"))
	}
	return append(errs, validateService(svc)...)
}

// validateClusterIPsChange allows adding or releasing a secondary cluster IP
// (dual-stack upgrade/downgrade) but never changing an allocated one.
func validateClusterIPsChange(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(old) && isHeadless(svc) {
		return nil
	}
	var errs field.ErrorList
	oldIPs, newIPs := old.Spec.ClusterIPs, svc.Spec.ClusterIPs
	first := specPath.Child("clusterIPs").Index(0)
	switch {
	case len(oldIPs) == len(newIPs):
		for i := range oldIPs {
			if oldIPs[i] != newIPs[i] {
				errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(i), newIPs, "may not change once set"))
			}
		}
	case len(oldIPs) > len(newIPs):
		if len(newIPs) == 0 {
			errs = append(errs, field.Invalid(first, newIPs, "primary clusterIP can not be unset"))
		}
		if len(newIPs) > 0 && newIPs[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(first, newIPs, "may not change once set"))
		}
		if len(newIPs) == 1 && !isSingleStack(svc) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(oldIPs) > 0 && newIPs[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(first, newIPs, "may not change once set"))
		}
	}
	return errs
}

func isSingleStack(svc *corev1.Service) bool {
	return svc.Spec.IPFamilyPolicy != nil && *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack
}

func validateIPFamiliesChange(old, svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// Headless services may change families, and so may a switch to or from headless.
	if isHeadless(old) || isHeadless(svc) {
		return nil
	}
	var errs field.ErrorList
	oldFams, newFams := old.Spec.IPFamilies, svc.Spec.IPFamilies
	first := specPath.Child("ipFamilies").Index(0)
	switch {
	case len(oldFams) == len(newFams):
		for i := range oldFams {
			if oldFams[i] != newFams[i] {
				errs = append(errs, field.Invalid(first, newFams, "may not change once set"))
			}
		}
	case len(oldFams) > len(newFams):
		if len(svc.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(first, newFams, "primary ipFamily can not be unset"))
		}
		if len(newFams) > 0 && newFams[0] != oldFams[0] {
			errs = append(errs, field.Invalid(first, svc.Spec.ClusterIPs, "may not change once set"))
		}
		if len(newFams) == 1 && !isSingleStack(svc) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), svc.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(oldFams) > 0 && newFams[0] != oldFams[0] {
			errs = append(errs, field.Invalid(first, svc.Spec.ClusterIPs, "may not change once set"))
		}
	}
	return errs
}

func validateLoadBalancerClassChange(old, svc *corev1.Service) field.ErrorList {
	isLB := func(s *corev1.Service) bool { return s.Spec.Type == corev1.ServiceTypeLoadBalancer }
	if !isLB(old) || !isLB(svc) {
		return nil
	}
	o, n := old.Spec.LoadBalancerClass, svc.Spec.LoadBalancerClass
	if (o == nil) == (n == nil) && (o == nil || *o == *n) {
		return nil
	}
	return field.ErrorList{field.Invalid(specPath.Child("loadBalancerClass"), n, "may not change once set")}
}

func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := validateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateLoadBalancerStatus(&svc.Status.LoadBalancer, &svc.Spec, field.NewPath("status", "loadBalancer"))...)
}

func validateLoadBalancerStatus(status *corev1.LoadBalancerStatus, spec *corev1.ServiceSpec, fldPath *field.Path) field.ErrorList {
	ingPath := fldPath.Child("ingress")
	if spec.Type != corev1.ServiceTypeLoadBalancer && len(status.Ingress) != 0 {
		return field.ErrorList{field.Forbidden(ingPath, "may only be used when `spec.type` is 'LoadBalancer'")}
	}
	var errs field.ErrorList
	for i := range status.Ingress {
		errs = append(errs, validateLoadBalancerIngress(&status.Ingress[i], ingPath.Index(i))...)
	}
	return errs
}

func validateLoadBalancerIngress(ing *corev1.LoadBalancerIngress, idxPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ing.IP != "" {
		errs = append(errs, utilvalidation.IsValidIP(idxPath.Child("ip"), ing.IP)...)
	}
	switch {
	case ing.IPMode == nil && ing.IP != "":
		errs = append(errs, field.Required(idxPath.Child("ipMode"), "must be specified when `ip` is set"))
	case ing.IPMode != nil && ing.IP == "":
		errs = append(errs, field.Forbidden(idxPath.Child("ipMode"), "may not be specified when `ip` is not set"))
	case ing.IPMode != nil && !supportedLoadBalancerIPMode.Has(*ing.IPMode):
		errs = append(errs, field.NotSupported(idxPath.Child("ipMode"), ing.IPMode, sets.List(supportedLoadBalancerIPMode)))
	}
	errs = append(errs, validateStatusHostname(ing.Hostname, idxPath.Child("hostname"))...)
	return errs
}

func validateStatusHostname(hostname string, fldPath *field.Path) field.ErrorList {
	if hostname == "" {
		return nil
	}
	errs := validateDNS1123Subdomain(hostname, fldPath)
	if netutils.ParseIPSloppy(hostname) != nil {
		errs = append(errs, field.Invalid(fldPath, hostname, "must be a DNS name, not an IP address"))
	}
	return errs
}
