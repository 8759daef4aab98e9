package validation

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// EndpointSlice size limits, as upstream.
const (
	maxTopologyLabels = 16
	maxAddresses      = 100
	maxPorts          = 100
	maxEndpoints      = 1000
)

var supportedAddressTypes = sets.New(
	string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6), string(discoveryv1.AddressTypeFQDN),
)

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := validateObjectMeta(&ep.ObjectMeta, true, nameIsDNSSubdomain)
	subsetsPath := field.NewPath("subsets")
	for i := range ep.Subsets {
		errs = append(errs, validateEndpointSubset(&ep.Subsets[i], subsetsPath.Index(i))...)
	}
	return errs
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	errs := validateObjectMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateEndpoints(ep)...)
}

func validateEndpointSubset(ss *corev1.EndpointSubset, idxPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
		errs = append(errs, field.Required(idxPath, "must specify `addresses` or `notReadyAddresses`"))
	}
	for i := range ss.Addresses {
		errs = append(errs, validateEndpointAddress(&ss.Addresses[i], idxPath.Child("addresses").Index(i))...)
	}
	for i := range ss.NotReadyAddresses {
		errs = append(errs, validateEndpointAddress(&ss.NotReadyAddresses[i], idxPath.Child("notReadyAddresses").Index(i))...)
	}
	for i := range ss.Ports {
		errs = append(errs, validateEndpointPort(&ss.Ports[i], len(ss.Ports) > 1, idxPath.Child("ports").Index(i))...)
	}
	return errs
}

func validateEndpointAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	errs := utilvalidation.IsValidIP(fldPath.Child("ip"), a.IP)
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, fldPath.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateNameWith(nameIsDNSSubdomain, *a.NodeName, false, fldPath.Child("nodeName"))...)
	}
	return append(errs, validateNonSpecialIP(a.IP, fldPath.Child("ip"))...)
}

func validateEndpointPort(p *corev1.EndpointPort, requireName bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && p.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else if p.Name != "" {
		errs = append(errs, validateDNS1123Label(p.Name, fldPath.Child("name"))...)
	}
	errs = append(errs, messages(utilvalidation.IsValidPortNum(int(p.Port)), p.Port, fldPath.Child("port"))...)
	errs = append(errs, validateProtocol(p.Protocol, fldPath.Child("protocol"))...)
	if p.AppProtocol != nil {
		errs = append(errs, validateQualifiedName(*p.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return errs
}

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateObjectMeta(&es.ObjectMeta, true, nameIsDNSSubdomain)
	errs = append(errs, validateAddressType(es.AddressType)...)
	errs = append(errs, validateSliceEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints"))...)
	return append(errs, validateSlicePorts(es.Ports, field.NewPath("ports"))...)
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateObjectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateEndpointSlice(es)...)
	return append(errs, validateImmutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func validateAddressType(t discoveryv1.AddressType) field.ErrorList {
	p := field.NewPath("addressType")
	if t == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if !supportedAddressTypes.Has(string(t)) {
		return field.ErrorList{field.NotSupported(p, t, sets.List(supportedAddressTypes))}
	}
	return nil
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, t discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxEndpoints)}
	}
	var errs field.ErrorList
	for i := range endpoints {
		ep := &endpoints[i]
		idxPath := fldPath.Index(i)
		addrPath := idxPath.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxAddresses {
			errs = append(errs, field.TooMany(addrPath, len(ep.Addresses), maxAddresses))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, validateSliceAddress(addr, t, addrPath.Index(j))...)
		}
		if ep.DeprecatedTopology != nil {
			topoPath := idxPath.Child("deprecatedTopology")
			if len(ep.DeprecatedTopology) > maxTopologyLabels {
				errs = append(errs, field.TooMany(topoPath, len(ep.DeprecatedTopology), maxTopologyLabels))
			}
			errs = append(errs, metav1validation.ValidateLabels(ep.DeprecatedTopology, topoPath)...)
		}
		if ep.Hostname != nil {
			errs = append(errs, validateDNS1123Label(*ep.Hostname, idxPath.Child("hostname"))...)
		}
	}
	return errs
}

func validateSliceAddress(addr string, t discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch t {
	case discoveryv1.AddressTypeIPv4:
		errs = utilvalidation.IsValidIPv4Address(fldPath, addr)
	case discoveryv1.AddressTypeIPv6:
		errs = utilvalidation.IsValidIPv6Address(fldPath, addr)
	case discoveryv1.AddressTypeFQDN:
		return utilvalidation.IsFullyQualifiedDomainName(fldPath, addr)
	default:
		return nil
	}
	if len(errs) > 0 {
		return errs
	}
	return validateNonSpecialIP(addr, fldPath)
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxPorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxPorts)}
	}
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idxPath := fldPath.Index(i)
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			errs = append(errs, validateDNS1123Label(name, idxPath.Child("name"))...)
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(idxPath.Child("name"), p.Name))
		}
		names.Insert(name)
		if p.Protocol == nil {
			errs = append(errs, field.Required(idxPath.Child("protocol"), ""))
		} else if !supportedPortProtocols.Has(*p.Protocol) {
			errs = append(errs, field.NotSupported(idxPath.Child("protocol"), *p.Protocol, sets.List(supportedPortProtocols)))
		}
		if p.AppProtocol != nil {
			errs = append(errs, messages(utilvalidation.IsQualifiedName(*p.AppProtocol), p.AppProtocol, idxPath.Child("appProtocol"))...)
		}
	}
	return errs
}
