package endpoints

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type svcOpt func(*corev1.Service)

// svcObj is service "web" selecting app=web, port http 80 → targetPort.
func svcObj(target intstr.IntOrString, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: target}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func headless(s *corev1.Service) {
	s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
}

func publishNotReady(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }

type podOpt func(*corev1.Pod)

// podObj is a running pod of app=web with one IP, ready unless notReady is applied.
func podObj(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if ip == "" {
		p.Status.PodIP, p.Status.PodIPs = "", nil
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func terminating(p *corev1.Pod) {
	t := metav1.Unix(1000, 0)
	p.DeletionTimestamp = &t
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func withPort(name string, port int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports,
			corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
}

func hostname(h, sub string) podOpt {
	return func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = h, sub }
}

// renderSlice is a compact one-line form: name or generateName, family, ports, endpoints as
// address(pod node ready/serving/terminating [hostname]).
func renderSlice(s *discoveryv1.EndpointSlice) string {
	name := s.Name
	if name == "" {
		name = s.GenerateName + "*"
	}
	var ports []string
	for _, p := range s.Ports {
		ports = append(ports, fmt.Sprintf("%s/%s/%d", deref(p.Name), deref(p.Protocol), deref(p.Port)))
	}
	var eps []string
	for _, e := range s.Endpoints {
		flag := func(b *bool, c string) string {
			if b == nil {
				return "?"
			}
			if *b {
				return c
			}
			return "-"
		}
		pod := ""
		if e.TargetRef != nil {
			pod = e.TargetRef.Name
		}
		ep := fmt.Sprintf("%s(%s %s %s%s%s", strings.Join(e.Addresses, ","), pod, deref(e.NodeName),
			flag(e.Conditions.Ready, "r"), flag(e.Conditions.Serving, "s"), flag(e.Conditions.Terminating, "t"))
		if e.Hostname != nil {
			ep += " " + *e.Hostname
		}
		eps = append(eps, ep+")")
	}
	return fmt.Sprintf("%s %s [%s] %s", name, s.AddressType, strings.Join(ports, " "), strings.Join(eps, " "))
}

func renderPlan(p slicePlan) string {
	var lines []string
	for _, s := range p.Create {
		lines = append(lines, "create "+renderSlice(s))
	}
	for _, s := range p.Update {
		lines = append(lines, "update "+renderSlice(s))
	}
	for _, s := range p.Delete {
		lines = append(lines, "delete "+s.Name)
	}
	return strings.Join(lines, "\n")
}

// renderEndpoints: one line per subset, "ready=[ip(pod)...] notready=[...] ports=[name/proto/port...]".
func renderEndpoints(ep *corev1.Endpoints) string {
	if ep == nil {
		return "<no change>"
	}
	addrs := func(list []corev1.EndpointAddress) string {
		var out []string
		for _, a := range list {
			s := a.IP + "(" + a.TargetRef.Name
			if a.Hostname != "" {
				s += " " + a.Hostname
			}
			out = append(out, s+")")
		}
		return strings.Join(out, " ")
	}
	var lines []string
	for _, s := range ep.Subsets {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s/%s/%d", p.Name, p.Protocol, p.Port))
		}
		lines = append(lines, fmt.Sprintf("ready=[%s] notready=[%s] ports=[%s]", addrs(s.Addresses), addrs(s.NotReadyAddresses), strings.Join(ports, " ")))
	}
	var meta []string
	for k, v := range ep.Labels {
		meta = append(meta, "label "+k+"="+v)
	}
	for k, v := range ep.Annotations {
		meta = append(meta, "annotation "+k+"="+v)
	}
	slices.Sort(meta)
	return strings.Join(append(lines, meta...), "\n")
}
