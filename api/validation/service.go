package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"

	"github.com/podnet/podnet/api/validation/internal/core"
)

const maxClientIPServiceAffinitySeconds = 86400

var (
	supportedPortProtocols      = sets.New(corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)
	supportedSessionAffinity    = sets.New(corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)
	supportedServiceTypes       = sets.New(corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)
	supportedInternalTraffic    = sets.New(corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)
	supportedExternalTraffic    = sets.New(corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)
	supportedIPFamilies         = sets.New(corev1.IPv4Protocol, corev1.IPv6Protocol)
	supportedIPFamilyPolicies   = sets.New(corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack)
	supportedLoadBalancerIPMode = sets.New(corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy)
)

var specPath = field.NewPath("spec")

func validateService(svc *corev1.Service) field.ErrorList {
	errs := validateObjectMeta(&svc.ObjectMeta, true, nameIsDNS1035Label)
	errs = append(errs, validateTopologyAnnotations(svc)...)
	errs = append(errs, validateServiceTypeRules(svc)...)
	errs = append(errs, validateServicePorts(svc)...)
	if svc.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(svc.Spec.Selector, specPath.Child("selector"))...)
	}
	errs = append(errs, validateSessionAffinity(&svc.Spec)...)
	errs = append(errs, validateClusterIPsRelatedFields(svc)...)
	errs = append(errs, validateExternalIPs(svc.Spec.ExternalIPs)...)
	errs = append(errs, validateServiceType(svc)...)
	errs = append(errs, validateServicePortUniqueness(svc.Spec.Ports)...)
	errs = append(errs, validateSourceRanges(svc)...)
	errs = append(errs, validateLoadBalancerFields(svc)...)
	errs = append(errs, validateExternalTrafficPolicy(svc)...)
	errs = append(errs, validateInternalTrafficPolicy(svc)...)
	errs = append(errs, validateTrafficDistribution(svc)...)
	return errs
}

func validateTopologyAnnotations(svc *corev1.Service) field.ErrorList {
	hints, hintsSet := svc.Annotations[corev1.DeprecatedAnnotationTopologyAwareHints]
	mode, modeSet := svc.Annotations[corev1.AnnotationTopologyMode]
	if !hintsSet || !modeSet || hints == mode {
		return nil
	}
	msg := fmt.Sprintf("must match annotations[%s] when both are specified", corev1.DeprecatedAnnotationTopologyAwareHints)
	return field.ErrorList{field.Invalid(metadataPath.Child("annotations").Key(corev1.AnnotationTopologyMode), mode, msg)}
}

func isHeadless(svc *corev1.Service) bool {
	return len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

func validateServiceTypeRules(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0],
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		errs = append(errs, validateExternalNameService(spec)...)
	}
	return errs
}

func validateExternalNameService(spec *corev1.ServiceSpec) field.ErrorList {
	var errs field.ErrorList
	if len(spec.ClusterIPs) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
	}
	if len(spec.IPFamilies) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
	}
	if spec.IPFamilyPolicy != nil {
		errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
	}
	// A trailing dot marks the CNAME as fully qualified and is allowed.
	cname := strings.TrimSuffix(spec.ExternalName, ".")
	if cname == "" {
		return append(errs, field.Required(specPath.Child("externalName"), ""))
	}
	return append(errs, validateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
}

func validateServicePorts(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	requireName := len(svc.Spec.Ports) > 1
	for i := range svc.Spec.Ports {
		errs = append(errs, validateServicePort(&svc.Spec.Ports[i], requireName, names, specPath.Child("ports").Index(i))...)
	}
	return errs
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else if sp.Name != "" {
		errs = append(errs, validateDNS1123Label(sp.Name, fldPath.Child("name"))...)
		if names.Has(sp.Name) {
			errs = append(errs, field.Duplicate(fldPath.Child("name"), sp.Name))
		} else {
			names.Insert(sp.Name)
		}
	}
	errs = append(errs, messages(utilvalidation.IsValidPortNum(int(sp.Port)), sp.Port, fldPath.Child("port"))...)
	errs = append(errs, validateProtocol(sp.Protocol, fldPath.Child("protocol"))...)
	errs = append(errs, validatePortNumOrName(sp.TargetPort, fldPath.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		errs = append(errs, validateQualifiedName(*sp.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return errs
}

func validateProtocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	if p == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if !supportedPortProtocols.Has(p) {
		return field.ErrorList{field.NotSupported(fldPath, p, sets.List(supportedPortProtocols))}
	}
	return nil
}

func validateSessionAffinity(spec *corev1.ServiceSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.SessionAffinity == "" {
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	} else if !supportedSessionAffinity.Has(spec.SessionAffinity) {
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, sets.List(supportedSessionAffinity)))
	}
	cfgPath := specPath.Child("sessionAffinityConfig")
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		errs = append(errs, validateClientIPAffinityConfig(spec.SessionAffinityConfig, cfgPath)...)
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(cfgPath, fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	}
	return errs
}

func validateClientIPAffinityConfig(cfg *corev1.SessionAffinityConfig, fldPath *field.Path) field.ErrorList {
	detail := fmt.Sprintf("when session affinity type is %s", corev1.ServiceAffinityClientIP)
	switch {
	case cfg == nil:
		return field.ErrorList{field.Required(fldPath, detail)}
	case cfg.ClientIP == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP"), detail)}
	case cfg.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(fldPath.Child("clientIP").Child("timeoutSeconds"), detail)}
	}
	timeout := *cfg.ClientIP.TimeoutSeconds
	if timeout <= 0 || timeout > maxClientIPServiceAffinitySeconds {
		return field.ErrorList{field.Invalid(fldPath.Child("clientIP").Child("timeoutSeconds"), timeout,
			fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPServiceAffinitySeconds))}
	}
	return nil
}

func validateExternalIPs(ips []string) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		idxPath := specPath.Child("externalIPs").Index(i)
		if ipErrs := utilvalidation.IsValidIP(idxPath, ip); len(ipErrs) != 0 {
			errs = append(errs, ipErrs...)
		} else {
			errs = append(errs, validateNonSpecialIP(ip, idxPath)...)
		}
	}
	return errs
}

func validateServiceType(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	t := svc.Spec.Type
	if t == "" {
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	} else if !supportedServiceTypes.Has(t) {
		errs = append(errs, field.NotSupported(specPath.Child("type"), t, sets.List(supportedServiceTypes)))
	}
	if t == corev1.ServiceTypeClusterIP {
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].NodePort != 0 {
				errs = append(errs, field.Forbidden(specPath.Child("ports").Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	return errs
}

// validateServicePortUniqueness rejects two ports, or two node ports, that share a
// protocol and number; the duplicate value reads like the internal type upstream prints.
func validateServicePortUniqueness(ports []corev1.ServicePort) field.ErrorList {
	var errs field.ErrorList
	nodePorts := map[core.ServicePort]bool{}
	for i := range ports {
		if ports[i].NodePort == 0 {
			continue
		}
		key := core.ServicePort{Protocol: ports[i].Protocol, NodePort: ports[i].NodePort}
		if nodePorts[key] {
			errs = append(errs, field.Duplicate(specPath.Child("ports").Index(i).Child("nodePort"), ports[i].NodePort))
		}
		nodePorts[key] = true
	}
	seen := map[core.ServicePort]bool{}
	for i := range ports {
		key := core.ServicePort{Protocol: ports[i].Protocol, Port: ports[i].Port}
		if seen[key] {
			errs = append(errs, field.Duplicate(specPath.Child("ports").Index(i), key))
		}
		seen[key] = true
	}
	return errs
}

func validateSourceRanges(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	notLB := svc.Spec.Type != corev1.ServiceTypeLoadBalancer
	if len(svc.Spec.LoadBalancerSourceRanges) > 0 {
		// Upstream reports this field with a capital L; kept for identical messages.
		fldPath := specPath.Child("LoadBalancerSourceRanges")
		if notLB {
			errs = append(errs, field.Forbidden(fldPath, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, value := range svc.Spec.LoadBalancerSourceRanges {
			errs = append(errs, utilvalidation.IsValidCIDR(fldPath.Index(i), strings.TrimSpace(value))...)
		}
		return errs
	}
	val, set := svc.Annotations[corev1.AnnotationLoadBalancerSourceRangesKey]
	if !set {
		return nil
	}
	fldPath := metadataPath.Child("annotations").Key(corev1.AnnotationLoadBalancerSourceRangesKey)
	if notLB {
		errs = append(errs, field.Forbidden(fldPath, "may only be used when `type` is 'LoadBalancer'"))
	}
	if val = strings.TrimSpace(val); val != "" {
		for _, value := range strings.Split(val, ",") {
			errs = append(errs, utilvalidation.IsValidCIDR(fldPath, strings.TrimSpace(value))...)
		}
	}
	return errs
}

func validateLoadBalancerFields(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	isLB := svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if svc.Spec.AllocateLoadBalancerNodePorts != nil && !isLB {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if isLB && svc.Spec.AllocateLoadBalancerNodePorts == nil {
		// Upstream's path has no "spec." here; kept for identical messages.
		errs = append(errs, field.Required(field.NewPath("allocateLoadBalancerNodePorts"), ""))
	}
	if svc.Spec.LoadBalancerClass == nil {
		return errs
	}
	if isLB {
		return append(errs, validateQualifiedName(*svc.Spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
	}
	return append(errs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
}

// externallyAccessible mirrors upstream: node ports, load balancers and ClusterIP
// services with external IPs receive traffic from outside the cluster.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func validateExternalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	etp := svc.Spec.ExternalTrafficPolicy
	etpPath := specPath.Child("externalTrafficPolicy")
	switch {
	case !externallyAccessible(svc) && etp != "":
		errs = append(errs, field.Invalid(etpPath, etp, "may only be set for externally-accessible services"))
	case externallyAccessible(svc) && etp == "":
		errs = append(errs, field.Required(etpPath, ""))
	case externallyAccessible(svc) && !supportedExternalTraffic.Has(etp):
		errs = append(errs, field.NotSupported(etpPath, etp, sets.List(supportedExternalTraffic)))
	}
	hc := svc.Spec.HealthCheckNodePort
	hcPath := specPath.Child("healthCheckNodePort")
	switch {
	case !needsHealthCheck(svc) && hc != 0:
		errs = append(errs, field.Invalid(hcPath, hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	case needsHealthCheck(svc) && hc == 0:
		errs = append(errs, field.Required(hcPath, ""))
	case needsHealthCheck(svc):
		errs = append(errs, messages(utilvalidation.IsValidPortNum(int(hc)), hc, hcPath)...)
	}
	return errs
}

func validateInternalTrafficPolicy(svc *corev1.Service) field.ErrorList {
	itpPath := specPath.Child("internalTrafficPolicy")
	if svc.Spec.InternalTrafficPolicy == nil {
		if svc.Spec.Type != corev1.ServiceTypeExternalName {
			return field.ErrorList{field.Required(itpPath, "")}
		}
		return nil
	}
	if !supportedInternalTraffic.Has(*svc.Spec.InternalTrafficPolicy) {
		return field.ErrorList{field.NotSupported(itpPath, *svc.Spec.InternalTrafficPolicy, sets.List(supportedInternalTraffic))}
	}
	return nil
}

func validateTrafficDistribution(svc *corev1.Service) field.ErrorList {
	td := svc.Spec.TrafficDistribution
	if td == nil || *td == corev1.ServiceTrafficDistributionPreferClose {
		return nil
	}
	return field.ErrorList{field.NotSupported(specPath.Child("trafficDistribution"), *td, []string{corev1.ServiceTrafficDistributionPreferClose})}
}

// validateClusterIPsRelatedFields checks clusterIP, clusterIPs, ipFamilies and
// ipFamilyPolicy against each other, as upstream does after allocation.
func validateClusterIPsRelatedFields(svc *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	errs := validateClusterIPSync(&svc.Spec)
	errs = append(errs, validateIPFamilyFields(&svc.Spec)...)
	ipErrs := validateClusterIPValues(svc.Spec.ClusterIPs)
	errs = append(errs, ipErrs...)
	if len(ipErrs) > 0 {
		// Further checks would only repeat the same bad values.
		return errs
	}
	return append(errs, validateClusterIPFamilies(svc)...)
}

func validateClusterIPSync(spec *corev1.ServiceSpec) field.ErrorList {
	ipsPath := specPath.Child("clusterIPs")
	if spec.ClusterIP != "" {
		if len(spec.ClusterIPs) == 0 {
			return field.ErrorList{field.Required(ipsPath, "")}
		}
		if spec.ClusterIPs[0] != spec.ClusterIP {
			return field.ErrorList{field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`")}
		}
		return nil
	}
	if len(spec.ClusterIPs) != 0 {
		return field.ErrorList{field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified")}
	}
	return nil
}

func validateIPFamilyFields(spec *corev1.ServiceSpec) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[corev1.IPFamily]()
	for i, fam := range spec.IPFamilies {
		famPath := specPath.Child("ipFamilies").Index(i)
		if !supportedIPFamilies.Has(fam) {
			errs = append(errs, field.NotSupported(famPath, fam, sets.List(supportedIPFamilies)))
		}
		if seen.Has(fam) {
			errs = append(errs, field.Duplicate(famPath, fam))
		}
		seen.Insert(fam)
	}
	if p := spec.IPFamilyPolicy; p != nil && !supportedIPFamilyPolicies.Has(*p) {
		errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), p, sets.List(supportedIPFamilyPolicies)))
	}
	return errs
}

// validateClusterIPValues returns only value errors, so the caller can stop early.
func validateClusterIPValues(ips []string) field.ErrorList {
	var errs field.ErrorList
	ipsPath := specPath.Child("clusterIPs")
	for i, ip := range ips {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(ips) > 1 {
				errs = append(errs, field.Invalid(ipsPath, ips, "'None' must be the first and only value"))
			}
			continue
		}
		errs = append(errs, utilvalidation.IsValidIP(ipsPath.Index(i), ip)...)
	}
	if len(ips) > 2 {
		errs = append(errs, field.Invalid(ipsPath, ips, "may only hold up to 2 values"))
	}
	return errs
}

func validateClusterIPFamilies(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	ips := svc.Spec.ClusterIPs
	ipsPath := specPath.Child("clusterIPs")
	if len(ips) > 1 {
		if dual, err := netutils.IsDualStackIPStrings(ips); err != nil || !dual {
			errs = append(errs, field.Invalid(ipsPath, ips, "may specify no more than one IP for each IP family"))
		}
	}
	if isHeadless(svc) {
		return errs
	}
	for i, ip := range ips {
		if i >= len(svc.Spec.IPFamilies) {
			break
		}
		isV6 := netutils.IsIPv6String(ip)
		switch fam := svc.Spec.IPFamilies[i]; {
		case fam == corev1.IPv4Protocol && isV6:
			errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
		case fam == corev1.IPv6Protocol && !isV6:
			errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
		}
	}
	return errs
}

// validateNonSpecialIP rejects addresses that can never be a service or endpoint:
// unspecified, loopback and link-local ones.
func validateNonSpecialIP(ipAddress string, fldPath *field.Path) field.ErrorList {
	ip := netutils.ParseIPSloppy(ipAddress)
	if ip == nil {
		return field.ErrorList{field.Invalid(fldPath, ipAddress, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(fldPath, ipAddress, fmt.Sprintf("may not be unspecified (%v)", ipAddress)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(fldPath, ipAddress, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(fldPath, ipAddress, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(fldPath, ipAddress, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}
