package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

var serviceColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Type", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
	column("Cluster-IP", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
	column("External-IP", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
	column("Port(s)", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
	ageColumn(),
	wide(column("Selector", corev1.ServiceSpec{}.SwaggerDoc()["selector"])),
}

func serviceCells(svc *corev1.Service, now time.Time) []any {
	return []any{
		svc.Name,
		string(svc.Spec.Type),
		orNone(clusterIP(svc)),
		serviceExternalIP(svc),
		orNone(servicePorts(svc.Spec.Ports)),
		age(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// clusterIP is the primary cluster IP ("None" for headless services),
// falling back to the single-stack field for specs written without clusterIPs.
func clusterIP(svc *corev1.Service) string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs[0]
	}
	return svc.Spec.ClusterIP
}

func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		return loadBalancerExternalIP(svc)
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerExternalIP lists the ingress points first, then the
// user-assigned external IPs; <pending> until either exists.
func loadBalancerExternalIP(svc *corev1.Service) string {
	ips := loadBalancerIngress(svc.Status.LoadBalancer.Ingress)
	ips = append(ips, svc.Spec.ExternalIPs...)
	if len(ips) == 0 {
		return "<pending>"
	}
	return strings.Join(ips, ",")
}

// loadBalancerIngress returns the distinct IPs (or hostnames, for ingress
// points without an IP), sorted.
func loadBalancerIngress(ingress []corev1.LoadBalancerIngress) []string {
	points := sets.New[string]()
	for _, in := range ingress {
		switch {
		case in.IP != "":
			points.Insert(in.IP)
		case in.Hostname != "":
			points.Insert(in.Hostname)
		}
	}
	return sets.List(points)
}

// servicePorts renders "80/TCP", or "80:30080/TCP" when a node port is set.
func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}
