package validation

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

const (
	annotationIngressClass       = "kubernetes.io/ingress.class"
	maxLenIngressClassController = 250
)

var (
	supportedPathTypes = sets.New(
		string(networkingv1.PathTypeExact), string(networkingv1.PathTypePrefix), string(networkingv1.PathTypeImplementationSpecific),
	)
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
	supportedParamScopes = sets.New(
		networkingv1.IngressClassParametersReferenceScopeNamespace, networkingv1.IngressClassParametersReferenceScopeCluster,
	)
)

func validateIngressCreate(ing *networkingv1.Ingress) field.ErrorList {
	errs := validateIngress(ing)
	ann, set := ing.Annotations[annotationIngressClass]
	if set && ing.Spec.IngressClassName != nil && ann != *ing.Spec.IngressClassName {
		// Upstream's path has no "metadata."; kept for identical messages.
		p := field.NewPath("annotations").Child(annotationIngressClass)
		errs = append(errs, field.Invalid(p, ann, "must match `ingressClassName` when both are specified"))
	}
	return errs
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	errs := validateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	return append(errs, validateIngress(ing)...)
}

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := validateObjectMeta(&ing.ObjectMeta, true, nameIsDNSSubdomain)
	return append(errs, validateIngressSpec(&ing.Spec, specPath)...)
}

func validateIngressSpec(spec *networkingv1.IngressSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	for i := range spec.Rules {
		errs = append(errs, validateIngressRule(&spec.Rules[i], fldPath.Child("rules").Index(i))...)
	}
	for i := range spec.TLS {
		errs = append(errs, validateIngressTLS(&spec.TLS[i], fldPath.Child("tls").Index(i))...)
	}
	if spec.IngressClassName != nil {
		errs = append(errs, validateNameWith(nameIsDNSSubdomain, *spec.IngressClassName, false, fldPath.Child("ingressClassName"))...)
	}
	return errs
}

func validateIngressTLS(tls *networkingv1.IngressTLS, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, host := range tls.Hosts {
		errs = append(errs, validateHost(host, fldPath.Child("hosts").Index(i))...)
	}
	if tls.SecretName != "" {
		errs = append(errs, validateNameWith(nameIsDNSSubdomain, tls.SecretName, false, fldPath.Child("secretName"))...)
	}
	return errs
}

// validateHost accepts a DNS subdomain or a "*." wildcard one.
func validateHost(host string, fldPath *field.Path) field.ErrorList {
	if strings.Contains(host, "*") {
		return messages(utilvalidation.IsWildcardDNS1123Subdomain(host), host, fldPath)
	}
	return messages(utilvalidation.IsDNS1123Subdomain(host), host, fldPath)
}

func validateIngressRule(rule *networkingv1.IngressRule, idxPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if rule.Host != "" {
		if netutils.ParseIPSloppy(rule.Host) != nil {
			errs = append(errs, field.Invalid(idxPath.Child("host"), rule.Host, "must be a DNS name, not an IP address"))
		}
		errs = append(errs, validateHost(rule.Host, idxPath.Child("host"))...)
	}
	if rule.HTTP == nil {
		return errs
	}
	httpPath := idxPath.Child("http")
	if len(rule.HTTP.Paths) == 0 {
		errs = append(errs, field.Required(httpPath.Child("paths"), ""))
	}
	for i := range rule.HTTP.Paths {
		errs = append(errs, validateHTTPIngressPath(&rule.HTTP.Paths[i], httpPath.Child("paths").Index(i))...)
	}
	return errs
}

func validateHTTPIngressPath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(fldPath.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	pathPath := fldPath.Child("path")
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
		errs = append(errs, validatePathShape(p.Path, pathPath)...)
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			errs = append(errs, field.Invalid(pathPath, p.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("pathType"), *p.PathType, sets.List(supportedPathTypes)))
	}
	return append(errs, validateIngressBackend(&p.Backend, fldPath.Child("backend"))...)
}

func validatePathShape(path string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, seq := range invalidPathSequences {
		if strings.Contains(path, seq) {
			errs = append(errs, field.Invalid(fldPath, path, fmt.Sprintf("must not contain '%s'", seq)))
		}
	}
	for _, suffix := range invalidPathSuffixes {
		if strings.HasSuffix(path, suffix) {
			errs = append(errs, field.Invalid(fldPath, path, fmt.Sprintf("cannot end with '%s'", suffix)))
		}
	}
	return errs
}

func validateIngressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		return validateTypedReference(b.Resource.APIGroup, b.Resource.Kind, b.Resource.Name, fldPath.Child("resource"))
	case b.Service != nil:
		return validateServiceBackend(b.Service, fldPath)
	}
	return field.ErrorList{field.Invalid(fldPath, "", "resource or service backend is required")}
}

func validateServiceBackend(s *networkingv1.IngressServiceBackend, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(fldPath.Child("service", "name"), ""))
	} else {
		errs = append(errs, validateNameWith(nameIsDNS1035Label, s.Name, false, fldPath.Child("service", "name"))...)
	}
	hasName, hasNumber := s.Port.Name != "", s.Port.Number != 0
	switch {
	case hasName && hasNumber:
		errs = append(errs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
	case hasName:
		errs = append(errs, messages(utilvalidation.IsValidPortName(s.Port.Name), s.Port.Name, fldPath.Child("service", "port", "name"))...)
	case hasNumber:
		errs = append(errs, messages(utilvalidation.IsValidPortNum(int(s.Port.Number)), s.Port.Number, fldPath.Child("service", "port", "number"))...)
	default:
		errs = append(errs, field.Required(fldPath, "port name or number is required"))
	}
	return errs
}

// validateTypedReference checks an apiGroup/kind/name reference; kind and name are
// path segments because controllers put them into URLs.
func validateTypedReference(apiGroup *string, kind, name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if apiGroup != nil {
		errs = append(errs, validateDNS1123Subdomain(*apiGroup, fldPath.Child("apiGroup"))...)
	}
	errs = append(errs, validatePathSegment(kind, fldPath.Child("kind"))...)
	return append(errs, validatePathSegment(name, fldPath.Child("name"))...)
}

func validatePathSegment(v string, fldPath *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var msgs []string
	switch {
	case v == "." || v == "..":
		msgs = append(msgs, fmt.Sprintf("may not be '%s'", v))
	default:
		for _, illegal := range []string{"/", "%"} {
			if strings.Contains(v, illegal) {
				msgs = append(msgs, fmt.Sprintf("may not contain '%s'", illegal))
			}
		}
	}
	return messages(msgs, v, fldPath)
}

func validateIngressStatusUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	errs := validateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			errs = append(errs, utilvalidation.IsValidIP(p.Index(i).Child("ip"), lb.IP)...)
		}
		errs = append(errs, validateStatusHostname(lb.Hostname, p.Index(i).Child("hostname"))...)
	}
	return errs
}

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	errs := validateObjectMeta(&ic.ObjectMeta, false, nameIsDNSSubdomain)
	ctrlPath := specPath.Child("controller")
	switch c := ic.Spec.Controller; {
	case c == "":
		errs = append(errs, field.Required(ctrlPath, ""))
	default:
		if len(c) > maxLenIngressClassController {
			errs = append(errs, field.TooLong(ctrlPath, "", maxLenIngressClassController))
		}
		errs = append(errs, utilvalidation.IsDomainPrefixedPath(ctrlPath, c)...)
	}
	return append(errs, validateIngressClassParams(ic.Spec.Parameters, specPath.Child("parameters"))...)
}

func validateIngressClassParams(p *networkingv1.IngressClassParametersReference, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	errs := validateTypedReference(p.APIGroup, p.Kind, p.Name, fldPath)
	if p.Scope == nil {
		return append(errs, field.Required(fldPath.Child("scope"), ""))
	}
	switch scope := *p.Scope; {
	case !supportedParamScopes.Has(scope):
		errs = append(errs, field.NotSupported(fldPath.Child("scope"), scope, sets.List(supportedParamScopes)))
	case scope == networkingv1.IngressClassParametersReferenceScopeNamespace && p.Namespace == nil:
		errs = append(errs, field.Required(fldPath.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
	case scope == networkingv1.IngressClassParametersReferenceScopeNamespace:
		errs = append(errs, validateNameWith(nameIsDNSLabel, *p.Namespace, false, fldPath.Child("namespace"))...)
	case p.Namespace != nil:
		errs = append(errs, field.Forbidden(fldPath.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
	}
	return errs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	errs := validateObjectMetaUpdate(&ic.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateImmutable(ic.Spec.Controller, old.Spec.Controller, specPath.Child("controller"))...)
	return append(errs, validateIngressClass(ic)...)
}
