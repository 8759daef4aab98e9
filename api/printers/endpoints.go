package printers

import (
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var endpointsColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Endpoints", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn(),
}

// The descriptions come from discovery/v1beta1 because upstream takes them
// from there; the v1 wording differs.
var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("AddressType", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["addressType"]),
	column("Ports", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["ports"]),
	column("Endpoints", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
	ageColumn(),
}

func endpointsCells(ep *corev1.Endpoints, now time.Time) []any {
	return []any{ep.Name, formatEndpoints(ep.Subsets), age(ep.CreationTimestamp, now)}
}

// formatEndpoints lists ip:port for every port of every subset (bare IPs for
// port-less headless subsets), the first three only.
func formatEndpoints(subsets []corev1.EndpointSubset) string {
	if len(subsets) == 0 {
		return "<none>"
	}
	var shown []string
	total := 0
	add := func(s string) {
		if len(shown) < listLimit {
			shown = append(shown, s)
		}
		total++
	}
	for _, ss := range subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	// Unlike other lists, endpoints that have subsets but no addresses print
	// as an empty cell upstream, not <unset>.
	if total == 0 {
		return ""
	}
	return truncatedList(shown, total)
}

func endpointSliceCells(es *discoveryv1.EndpointSlice, now time.Time) []any {
	return []any{
		es.Name,
		string(es.AddressType),
		slicePorts(es.Ports),
		sliceAddresses(es.Endpoints),
		age(es.CreationTimestamp, now),
	}
}

// slicePorts prints each port number, its name when the number is unset,
// or "*" (all ports) when both are.
func slicePorts(ports []discoveryv1.EndpointPort) string {
	var shown []string
	for _, p := range ports {
		if len(shown) == listLimit {
			break
		}
		switch {
		case p.Port != nil:
			shown = append(shown, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			shown = append(shown, *p.Name)
		default:
			shown = append(shown, "*")
		}
	}
	return truncatedList(shown, len(ports))
}

func sliceAddresses(endpoints []discoveryv1.Endpoint) string {
	var all []string
	for _, ep := range endpoints {
		all = append(all, ep.Addresses...)
	}
	return truncatedList(all[:min(len(all), listLimit)], len(all))
}
