package defaults

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	defaultSessionAffinityConfig(spec)
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		defaultServicePort(&spec.Ports[i])
	}
	if externallyAccessible(spec) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil && spec.Type != corev1.ServiceTypeExternalName {
		spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptrTo(true)
	}
	syncClusterIPs(spec)
	defaultLoadBalancerIPMode(&svc.Status.LoadBalancer)
}

// syncClusterIPs fills clusterIP from clusterIPs or the reverse when only one is
// given, as upstream's service strategy does before validation; it allocates nothing.
func syncClusterIPs(spec *corev1.ServiceSpec) {
	switch {
	case spec.ClusterIP != "" && len(spec.ClusterIPs) == 0:
		spec.ClusterIPs = []string{spec.ClusterIP}
	case spec.ClusterIP == "" && len(spec.ClusterIPs) > 0:
		spec.ClusterIP = spec.ClusterIPs[0]
	}
}

// defaultSessionAffinityConfig drops a config that makes no sense without ClientIP
// affinity and fills in the three hour timeout upstream uses for ClientIP.
func defaultSessionAffinityConfig(spec *corev1.ServiceSpec) {
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if spec.SessionAffinityConfig == nil || spec.SessionAffinityConfig.ClientIP == nil ||
			spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(corev1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
}

func defaultServicePort(p *corev1.ServicePort) {
	if p.Protocol == "" {
		p.Protocol = corev1.ProtocolTCP
	}
	unsetInt := p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0
	unsetString := p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == ""
	if unsetInt || unsetString {
		p.TargetPort = intstr.FromInt32(p.Port)
	}
}

func defaultLoadBalancerIPMode(status *corev1.LoadBalancerStatus) {
	for i := range status.Ingress {
		ing := &status.Ingress[i]
		if ing.IP != "" && ing.IPMode == nil {
			ing.IPMode = ptrTo(corev1.LoadBalancerIPModeVIP)
		}
	}
}

// externallyAccessible matches validation: external IPs make a ClusterIP service
// reachable from outside too, so it needs a traffic policy as well.
func externallyAccessible(spec *corev1.ServiceSpec) bool {
	switch spec.Type {
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(spec.ExternalIPs) > 0
	}
	return false
}
