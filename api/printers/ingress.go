package printers

import (
	"fmt"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

var ingressColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
	column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
	column("Address", "Address is a list containing ingress points for the load-balancer"),
	column("Ports", "Ports of TLS configurations that open"),
	ageColumn(),
}

var ingressClassColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Controller", "Controller that is responsible for handling this class"),
	column("Parameters", "A reference to a resource with additional parameters"),
	ageColumn(),
}

func ingressCells(ing *networkingv1.Ingress, now time.Time) []any {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	return []any{
		ing.Name,
		class,
		ingressHosts(ing.Spec.Rules),
		ingressAddress(ing.Status.LoadBalancer.Ingress),
		ingressPorts(ing.Spec.TLS),
		age(ing.CreationTimestamp, now),
	}
}

// ingressHosts lists the first three hosts named by rules; "*" when none
// is. Upstream counts the "more" over all rules after the third, named or not.
func ingressHosts(rules []networkingv1.IngressRule) string {
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == listLimit {
			more = true
			break
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	ret := strings.Join(hosts, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, len(rules)-listLimit)
	}
	return ret
}

// ingressAddress lists the distinct ingress-point IPs (or hostnames), sorted.
func ingressAddress(points []networkingv1.IngressLoadBalancerIngress) string {
	addrs := sets.New[string]()
	for _, p := range points {
		switch {
		case p.IP != "":
			addrs.Insert(p.IP)
		case p.Hostname != "":
			addrs.Insert(p.Hostname)
		}
	}
	return strings.Join(sets.List(addrs), ",")
}

func ingressPorts(tls []networkingv1.IngressTLS) string {
	if len(tls) != 0 {
		return "80, 443"
	}
	return "80"
}

func ingressClassCells(ic *networkingv1.IngressClass, now time.Time) []any {
	return []any{ic.Name, ic.Spec.Controller, ingressClassParameters(ic.Spec.Parameters), age(ic.CreationTimestamp, now)}
}

// ingressClassParameters renders "Kind.apiGroup/name" (no group for core).
func ingressClassParameters(p *networkingv1.IngressClassParametersReference) string {
	if p == nil {
		return "<none>"
	}
	kind := p.Kind
	if p.APIGroup != nil {
		kind += "." + *p.APIGroup
	}
	return kind + "/" + p.Name
}
