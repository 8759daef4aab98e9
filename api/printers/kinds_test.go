package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestServiceCells(t *testing.T) {
	svc := func(spec corev1.ServiceSpec, status corev1.ServiceStatus) *corev1.Service {
		return &corev1.Service{ObjectMeta: meta5m("web"), Spec: spec, Status: status}
	}
	http := corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}
	runCellCases(t, schema.GroupKind{Kind: "Service"}, []cellCase{
		{"cluster IP with selector", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.12", ClusterIPs: []string{"10.96.0.12"},
			Ports: []corev1.ServicePort{http, {Port: 53, Protocol: corev1.ProtocolUDP}}, Selector: map[string]string{"app": "web", "tier": "fe"}}, corev1.ServiceStatus{}),
			[]any{"web", "ClusterIP", "10.96.0.12", "<none>", "80/TCP,53/UDP", "5m", "app=web,tier=fe"}},
		{"node port", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.0.12"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}}, corev1.ServiceStatus{}),
			[]any{"web", "NodePort", "10.96.0.12", "<none>", "80:30080/TCP", "5m", "<none>"}},
		{"cluster IP with external IPs", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.12"},
			ExternalIPs: []string{"192.0.2.1", "192.0.2.2"}, Ports: []corev1.ServicePort{http}}, corev1.ServiceStatus{}),
			[]any{"web", "ClusterIP", "10.96.0.12", "192.0.2.1,192.0.2.2", "80/TCP", "5m", "<none>"}},
		{"headless", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"}}, corev1.ServiceStatus{}),
			[]any{"web", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"}},
		{"only the legacy clusterIP field", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.13", Ports: []corev1.ServicePort{http}}, corev1.ServiceStatus{}),
			[]any{"web", "ClusterIP", "10.96.0.13", "<none>", "80/TCP", "5m", "<none>"}},
		{"load balancer pending", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.12"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: corev1.ProtocolTCP}}}, corev1.ServiceStatus{}),
			[]any{"web", "LoadBalancer", "10.96.0.12", "<pending>", "80:31000/TCP", "5m", "<none>"}},
		{"load balancer with ingress and external IPs", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.12"},
			ExternalIPs: []string{"192.0.2.9"}, Ports: []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: corev1.ProtocolTCP}}},
			corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "203.0.113.20"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.10"}, {IP: "203.0.113.20"}}}}),
			[]any{"web", "LoadBalancer", "10.96.0.12", "203.0.113.10,203.0.113.20,lb.example.com,192.0.2.9", "80:31000/TCP", "5m", "<none>"}},
		{"external name", svc(corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}, corev1.ServiceStatus{}),
			[]any{"web", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"}},
	})
}

func TestEndpointsCells(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, len(ips))
		for i, ip := range ips {
			out[i] = corev1.EndpointAddress{IP: ip}
		}
		return out
	}
	ep := func(subsets ...corev1.EndpointSubset) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: meta5m("web"), Subsets: subsets}
	}
	runCellCases(t, schema.GroupKind{Kind: "Endpoints"}, []cellCase{
		{"no subsets", ep(), []any{"web", "<none>", "5m"}},
		{"two addresses", ep(corev1.EndpointSubset{Addresses: addrs("10.244.0.5", "10.244.0.6"), Ports: []corev1.EndpointPort{{Port: 80}}}),
			[]any{"web", "10.244.0.5:80,10.244.0.6:80", "5m"}},
		{"exactly three", ep(corev1.EndpointSubset{Addresses: addrs("10.244.0.5", "10.244.0.6", "10.244.0.7"), Ports: []corev1.EndpointPort{{Port: 80}}}),
			[]any{"web", "10.244.0.5:80,10.244.0.6:80,10.244.0.7:80", "5m"}},
		{"truncated after three", ep(corev1.EndpointSubset{Addresses: addrs("10.244.0.5", "10.244.0.6"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}},
			corev1.EndpointSubset{Addresses: addrs("10.244.0.9"), Ports: []corev1.EndpointPort{{Port: 8080}}}),
			[]any{"web", "10.244.0.5:80,10.244.0.6:80,10.244.0.5:443 + 2 more...", "5m"}},
		{"headless without ports", ep(corev1.EndpointSubset{Addresses: addrs("10.244.0.5", "fd00::5")}),
			[]any{"web", "10.244.0.5,fd00::5", "5m"}},
		{"IPv6 with port", ep(corev1.EndpointSubset{Addresses: addrs("fd00::5"), Ports: []corev1.EndpointPort{{Port: 80}}}),
			[]any{"web", "[fd00::5]:80", "5m"}},
		{"subset without addresses", ep(corev1.EndpointSubset{NotReadyAddresses: addrs("10.244.0.5"), Ports: []corev1.EndpointPort{{Port: 80}}}),
			[]any{"web", "", "5m"}},
	})
}

func TestEndpointSliceCells(t *testing.T) {
	slice := func(ports []discoveryv1.EndpointPort, addrs ...[]string) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{ObjectMeta: meta5m("web-abc12"), AddressType: discoveryv1.AddressTypeIPv4, Ports: ports}
		for _, a := range addrs {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: a})
		}
		return es
	}
	runCellCases(t, schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}, []cellCase{
		{"empty", slice(nil), []any{"web-abc12", "IPv4", "<unset>", "<unset>", "5m"}},
		{"ports and endpoints", slice([]discoveryv1.EndpointPort{{Port: ref[int32](80)}, {Port: ref[int32](443)}},
			[]string{"10.244.0.5"}, []string{"10.244.0.6"}),
			[]any{"web-abc12", "IPv4", "80,443", "10.244.0.5,10.244.0.6", "5m"}},
		{"named and wildcard ports", slice([]discoveryv1.EndpointPort{{Name: ref("http")}, {}}),
			[]any{"web-abc12", "IPv4", "http,*", "<unset>", "5m"}},
		{"truncated", slice([]discoveryv1.EndpointPort{{Port: ref[int32](1)}, {Port: ref[int32](2)}, {Port: ref[int32](3)}, {Port: ref[int32](4)}},
			[]string{"10.244.0.1", "10.244.0.2"}, []string{"10.244.0.3"}, []string{"10.244.0.4"}, []string{"10.244.0.5"}),
			[]any{"web-abc12", "IPv4", "1,2,3 + 1 more...", "10.244.0.1,10.244.0.2,10.244.0.3 + 2 more...", "5m"}},
	})
}

func TestEventCells(t *testing.T) {
	legacy := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17f0", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
		Reason:         "BackOff",
		Message:        "Back-off restarting failed container\n",
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp: ago(2 * time.Hour),
		LastTimestamp:  ago(30 * time.Second),
		Count:          12,
	}
	series := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.17f1"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Deployment", Name: "web"},
		Reason:              "ScalingReplicaSet",
		Message:             "Scaled up",
		Type:                corev1.EventTypeNormal,
		EventTime:           microAgo(10 * time.Minute),
		Series:              &corev1.EventSeries{Count: 4, LastObservedTime: microAgo(time.Minute)},
		ReportingController: "deployment-controller",
	}
	singleton := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "n.1"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Node"},
		Reason:              "Starting",
		Type:                corev1.EventTypeNormal,
		EventTime:           microAgo(3 * time.Minute),
		Source:              corev1.EventSource{Component: "kubelet"},
		ReportingController: "ignored",
		ReportingInstance:   "node-a",
	}
	runCellCases(t, schema.GroupKind{Kind: "Event"}, []cellCase{
		{"legacy event", legacy,
			[]any{"30s", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, node-a", "Back-off restarting failed container", "120m", int64(12), "web.17f0"}},
		{"series event", series,
			[]any{"60s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller", "Scaled up", "10m", int64(4), "web.17f1"}},
		{"singleton new-style event", singleton,
			[]any{"3m", "Normal", "Starting", "node", "", "kubelet, node-a", "", "3m", int64(1), "n.1"}},
	})
}

func TestConfigCells(t *testing.T) {
	runCellCases(t, schema.GroupKind{Kind: "Secret"}, []cellCase{
		{"opaque", &corev1.Secret{ObjectMeta: meta5m("creds"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"user": nil, "pass": nil}},
			[]any{"creds", "Opaque", int64(2), "5m"}},
		{"string data not yet folded in", &corev1.Secret{ObjectMeta: meta5m("tls"), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nil}, StringData: map[string]string{"tls.crt": "x", "tls.key": "y"}},
			[]any{"tls", "kubernetes.io/tls", int64(2), "5m"}},
	})
	runCellCases(t, schema.GroupKind{Kind: "ConfigMap"}, []cellCase{
		{"data and binary data", &corev1.ConfigMap{ObjectMeta: meta5m("kube-root-ca.crt"), Data: map[string]string{"ca.crt": "x"}, BinaryData: map[string][]byte{"blob": nil}},
			[]any{"kube-root-ca.crt", int64(2), "5m"}},
		{"empty", &corev1.ConfigMap{ObjectMeta: meta5m("empty")}, []any{"empty", int64(0), "5m"}},
	})
	runCellCases(t, schema.GroupKind{Kind: "Namespace"}, []cellCase{
		{"active", &corev1.Namespace{ObjectMeta: meta5m("default"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]any{"default", "Active", "5m"}},
	})
}

func TestNodeCells(t *testing.T) {
	ready := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", CreationTimestamp: ago(49 * time.Hour), Labels: map[string]string{
			"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "", "kubernetes.io/role": "worker"}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node-a"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.32.11", OSImage: "Debian GNU/Linux 12 (bookworm)",
				KernelVersion: "6.1.0-18-amd64", ContainerRuntimeVersion: "podnet://0.1.0"},
		},
	}
	cordoned := &corev1.Node{
		ObjectMeta: meta5m("node-b"),
		Spec:       corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.5"}},
		},
	}
	runCellCases(t, schema.GroupKind{Kind: "Node"}, []cellCase{
		{"ready with roles", ready,
			[]any{"node-a", "Ready", "control-plane,worker", "2d1h", "v1.32.11", "192.168.1.10", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "podnet://0.1.0"}},
		{"not ready and cordoned", cordoned,
			[]any{"node-b", "NotReady,SchedulingDisabled", "<none>", "5m", "", "<none>", "203.0.113.5", "<unknown>", "<unknown>", "<unknown>"}},
		{"no conditions yet", &corev1.Node{ObjectMeta: meta5m("node-c")},
			[]any{"node-c", "Unknown", "<none>", "5m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
	})
}

func TestWorkloadCells(t *testing.T) {
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}, {Name: "log", Image: "busybox"}}}}
	runCellCases(t, schema.GroupKind{Group: "apps", Kind: "Deployment"}, []cellCase{
		{"rolling", &appsv1.Deployment{ObjectMeta: meta5m("web"),
			Spec: appsv1.DeploymentSpec{Replicas: ref[int32](3), Template: template,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2}},
			[]any{"web", "2/3", int64(1), int64(2), "5m", "app,log", "nginx:1.27,busybox", "app=web"}},
		{"no selector", &appsv1.Deployment{ObjectMeta: meta5m("bare")},
			[]any{"bare", "0/0", int64(0), int64(0), "5m", "", "", ""}},
	})
	runCellCases(t, schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, []cellCase{
		{"scaled", &appsv1.ReplicaSet{ObjectMeta: meta5m("web-5d4f8"),
			Spec: appsv1.ReplicaSetSpec{Replicas: ref[int32](3), Template: template,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "5d4f8"}}},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
			[]any{"web-5d4f8", int64(3), int64(3), int64(1), "5m", "app,log", "nginx:1.27,busybox", "app=web,pod-template-hash=5d4f8"}},
		{"no selector", &appsv1.ReplicaSet{ObjectMeta: meta5m("bare")},
			[]any{"bare", int64(0), int64(0), int64(0), "5m", "", "", "<none>"}},
	})
}

func TestIngressCells(t *testing.T) {
	rules := func(hosts ...string) []networkingv1.IngressRule {
		out := make([]networkingv1.IngressRule, len(hosts))
		for i, h := range hosts {
			out[i] = networkingv1.IngressRule{Host: h}
		}
		return out
	}
	runCellCases(t, schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}, []cellCase{
		{"catch-all without class", &networkingv1.Ingress{ObjectMeta: meta5m("web"),
			Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{}}},
			[]any{"web", "<none>", "*", "", "80", "5m"}},
		{"hosts, TLS and address", &networkingv1.Ingress{ObjectMeta: meta5m("web"),
			Spec: networkingv1.IngressSpec{IngressClassName: ref("podnet"), Rules: rules("a.example.com", "b.example.com"),
				TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{
				{IP: "192.168.1.10"}, {Hostname: "lb.example.com"}}}}},
			[]any{"web", "podnet", "a.example.com,b.example.com", "192.168.1.10,lb.example.com", "80, 443", "5m"}},
		{"more than three rules", &networkingv1.Ingress{ObjectMeta: meta5m("web"),
			Spec: networkingv1.IngressSpec{Rules: rules("", "a.example.com", "b.example.com", "c.example.com", "d.example.com")}},
			[]any{"web", "<none>", "a.example.com,b.example.com,c.example.com + 2 more...", "", "80", "5m"}},
	})
	runCellCases(t, schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}, []cellCase{
		{"no parameters", &networkingv1.IngressClass{ObjectMeta: meta5m("podnet"), Spec: networkingv1.IngressClassSpec{Controller: "podnet.io/ingress"}},
			[]any{"podnet", "podnet.io/ingress", "<none>", "5m"}},
		{"grouped parameters", &networkingv1.IngressClass{ObjectMeta: meta5m("podnet"), Spec: networkingv1.IngressClassSpec{Controller: "podnet.io/ingress",
			Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ref("k8s.example.com"), Kind: "IngressParameters", Name: "external-lb"}}},
			[]any{"podnet", "podnet.io/ingress", "IngressParameters.k8s.example.com/external-lb", "5m"}},
		{"core parameters", &networkingv1.IngressClass{ObjectMeta: meta5m("podnet"), Spec: networkingv1.IngressClassSpec{Controller: "podnet.io/ingress",
			Parameters: &networkingv1.IngressClassParametersReference{Kind: "ConfigMap", Name: "ingress"}}},
			[]any{"podnet", "podnet.io/ingress", "ConfigMap/ingress", "5m"}},
	})
}

// ref returns a pointer to v, for the optional fields of API types.
func ref[T any](v T) *T { return &v }
