package allocator

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Predicates over a Service's type, named as upstream names them.

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone ||
		(len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone)
}

// ownsClusterIP says whether the Service holds an address of the range.
func ownsClusterIP(svc *corev1.Service) bool {
	return needsClusterIP(svc) && !isHeadless(svc)
}

func needsNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// shouldAllocateNodePorts says whether ports without a nodePort get one dynamically; requested
// nodePorts are honoured either way.
func shouldAllocateNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHCNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// nodePortsOf lists the distinct nodePorts the Service holds, healthCheckNodePort included. Ports
// that share a number (53/TCP and 53/UDP) share one nodePort, so it is listed once.
func nodePortsOf(svc *corev1.Service) []int {
	var ports []int
	if needsNodePort(svc) {
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && !slices.Contains(ports, int(p.NodePort)) {
				ports = append(ports, int(p.NodePort))
			}
		}
	}
	if needsHCNodePort(svc) && svc.Spec.HealthCheckNodePort != 0 && !slices.Contains(ports, int(svc.Spec.HealthCheckNodePort)) {
		ports = append(ports, int(svc.Spec.HealthCheckNodePort))
	}
	return ports
}

func sameStrings(a, b []string) bool {
	return slices.Equal(a, b)
}

func sameFamilies(a, b []corev1.IPFamily) bool {
	return slices.Equal(a, b)
}
