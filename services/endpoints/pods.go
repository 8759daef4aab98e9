package endpoints

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// includePod: a pod is an endpoint once it has an IP and until it is terminal; pods being
// deleted only when the caller keeps terminating endpoints (slices always; Endpoints only
// with publishNotReadyAddresses).
func includePod(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// hostnameFor is the pod's DNS hostname under the service: set only when the pod asks to be
// found under it (spec.subdomain names the service).
func hostnameFor(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// findPort resolves a service port's targetPort on one pod: a number as it is, a name through
// the ports (same name and protocol) of its containers and sidecars.
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	if sp.TargetPort.Type == intstr.Int {
		return sp.TargetPort.IntVal, nil
	}
	name := sp.TargetPort.StrVal
	for _, c := range pod.Spec.Containers {
		if p, ok := namedPort(c.Ports, name, sp.Protocol); ok {
			return p, nil
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		if p, ok := namedPort(c.Ports, name, sp.Protocol); ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no suitable port for manifest: %s", pod.UID)
}

func namedPort(ports []corev1.ContainerPort, name string, proto corev1.Protocol) (int32, bool) {
	for _, p := range ports {
		if p.Name == name && p.Protocol == proto {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// podIPs are the pod's addresses, normalised (an irregular spelling would make a different
// endpoint of the same address).
func podIPs(pod *corev1.Pod) []netip.Addr {
	var raw []string
	for _, ip := range pod.Status.PodIPs {
		raw = append(raw, ip.IP)
	}
	if len(raw) == 0 && pod.Status.PodIP != "" {
		raw = []string{pod.Status.PodIP}
	}
	var out []netip.Addr
	for _, s := range raw {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// isIPv6String reports whether s parses as an IPv6 (not IPv4-mapped) address.
func isIPv6String(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && !a.Is4In6()
}

// serviceIPSet: the service has a ClusterIP (not headless, not ExternalName).
func serviceIPSet(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != ""
}

// managed: the controllers build endpoints for services that select pods, except ExternalName.
func managed(svc *corev1.Service) bool {
	return svc != nil && svc.Spec.Selector != nil && svc.Spec.Type != corev1.ServiceTypeExternalName
}
