package validation

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestValidateUpdate(t *testing.T) {
	svcWithIP := func(ip string) *corev1.Service {
		return stored(newService(func(s *corev1.Service) { s.Spec.ClusterIP = ip }))
	}
	tests := []struct {
		name     string
		kind     string
		obj, old runtime.Object
		want     string
	}{
		{"unchanged service", "Service", svcWithIP("10.96.0.10"), svcWithIP("10.96.0.10"), ""},
		{"cluster IP is immutable", "Service", svcWithIP("10.96.0.11"), svcWithIP("10.96.0.10"),
			`Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set`},
		{"update needs a resourceVersion", "Service", newService(nil), stored(newService(nil)),
			`Service "web" is invalid: [metadata.resourceVersion: Invalid value: "": must be specified for an update, metadata.uid: Invalid value: "": field is immutable]`},
		{"name is immutable", "Service", stored(newService(func(s *corev1.Service) { s.Name = "web2" })), stored(newService(nil)),
			`Service "web2" is invalid: metadata.name: Invalid value: "web2": field is immutable`},
		{"deployment selector is immutable", "Deployment",
			stored(newDeployment(func(d *appsv1.Deployment) {
				d.Spec.Selector.MatchLabels = map[string]string{"app": "web2"}
				d.Spec.Template.Labels = map[string]string{"app": "web2"}
			})), stored(newDeployment(nil)),
			`Deployment "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable`},
		{"deployment scale is fine", "Deployment",
			stored(newDeployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(5)) })), stored(newDeployment(nil)), ""},
		{"pod image may change", "Pod", podWithImage(stored(newPod(nil)), "nginx:1.27"), stored(newPod(nil)), ""},
		{"pod tolerations may only be added", "Pod",
			stored(newPod(nil)),
			stored(newPod(func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
			})),
			`Pod "web" is invalid: spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds`},
		{"pod containers may not be added", "Pod",
			stored(newPod(func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
			})), stored(newPod(nil)),
			`Pod "web" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers`},
		{"immutable secret data", "Secret",
			stored(defaulted(&corev1.Secret{ObjectMeta: objMeta("s"), Immutable: ptr(true), Data: map[string][]byte{"a": []byte("2")}})),
			stored(defaulted(&corev1.Secret{ObjectMeta: objMeta("s"), Immutable: ptr(true), Data: map[string][]byte{"a": []byte("1")}})),
			"Secret \"s\" is invalid: data: Forbidden: field is immutable when `immutable` is set"},
		{"secret type is immutable", "Secret",
			stored(defaulted(&corev1.Secret{ObjectMeta: objMeta("s"), Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"username": nil}})),
			stored(defaulted(&corev1.Secret{ObjectMeta: objMeta("s")})),
			`Secret "s" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable`},
		{"immutable configmap stays immutable", "ConfigMap",
			stored(&corev1.ConfigMap{ObjectMeta: objMeta("c"), Immutable: ptr(false)}),
			stored(&corev1.ConfigMap{ObjectMeta: objMeta("c"), Immutable: ptr(true)}),
			"ConfigMap \"c\" is invalid: immutable: Forbidden: field is immutable when `immutable` is set"},
		{"node pod CIDR is fixed once set", "Node",
			stored(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}}}),
			stored(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.0.0/24"}}}),
			`Node "n" is invalid: spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`},
		{"old object of another kind", "Service", stored(newService(nil)), stored(newPod(nil)),
			`Service "web" is invalid: kind: Internal error: old object is *v1.Pod, new object is *v1.Service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := message(tt.kind, nameOf(tt.obj), ValidateUpdate(tt.obj, tt.old))
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// podWithImage changes only the image, as a patch against the stored pod does.
func podWithImage(pod *corev1.Pod, image string) *corev1.Pod {
	pod.Spec.Containers[0].Image = image
	return pod
}

// The diff after the first line is go-cmp output, whose spacing is deliberately
// unstable, so only the first line is compared exactly.
func TestValidateUpdatePodSpecChange(t *testing.T) {
	old := stored(newPod(nil))
	pod := stored(newPod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 }))
	got := message("Pod", "web", ValidateUpdate(pod, old))
	first, diff, _ := strings.Cut(got, "\n")
	want := "Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
	if first != want {
		t.Errorf("first line:\n%s\nwant:\n%s", first, want)
	}
	if !strings.Contains(diff, "8080") {
		t.Errorf("diff does not show the changed port:\n%s", diff)
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	lbService := func(ip string, typ corev1.ServiceType) *corev1.Service {
		return stored(newService(func(s *corev1.Service) {
			s.Spec.Type = typ
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		}))
	}
	podWithIPs := func(ips ...string) *corev1.Pod {
		return stored(newPod(func(p *corev1.Pod) {
			for _, ip := range ips {
				p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
			}
		}))
	}
	deployment := func(replicas, ready int32) *appsv1.Deployment {
		return stored(newDeployment(func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{Replicas: replicas, ReadyReplicas: ready}
		}))
	}
	tests := []struct {
		name     string
		kind     string
		obj, old runtime.Object
		want     string
	}{
		{"load balancer IP", "Service", lbService("192.168.50.10", corev1.ServiceTypeLoadBalancer), lbService("", corev1.ServiceTypeLoadBalancer), ""},
		{"bad load balancer IP", "Service", lbService("192.168.50.300", corev1.ServiceTypeLoadBalancer), lbService("", corev1.ServiceTypeLoadBalancer),
			`Service "web" is invalid: status.loadBalancer.ingress[0].ip: Invalid value: "192.168.50.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
		{"load balancer status on a ClusterIP service", "Service", lbService("192.168.50.10", corev1.ServiceTypeClusterIP), lbService("", corev1.ServiceTypeClusterIP),
			"Service \"web\" is invalid: status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"},
		{"pod IPs of one family", "Pod", podWithIPs("10.244.0.5", "10.244.0.6"), podWithIPs(),
			`Pod "web" is invalid: status.podIPs: Invalid value: []v1.PodIP{v1.PodIP{IP:"10.244.0.5"}, v1.PodIP{IP:"10.244.0.6"}}: may specify no more than one IP for each IP family`},
		{"dual-stack pod IPs", "Pod", podWithIPs("10.244.0.5", "fd00::5"), podWithIPs(), ""},
		{"ready above replicas", "Deployment", deployment(1, 2), deployment(0, 0),
			`Deployment "web" is invalid: status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas`},
		{"namespace phase", "Namespace",
			stored(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}),
			stored(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}),
			"Namespace \"team\" is invalid: status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"},
		{"other kinds check metadata only", "ConfigMap",
			stored(&corev1.ConfigMap{ObjectMeta: objMeta("renamed")}), stored(&corev1.ConfigMap{ObjectMeta: objMeta("c")}),
			`ConfigMap "renamed" is invalid: metadata.name: Invalid value: "renamed": field is immutable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := message(tt.kind, nameOf(tt.obj), ValidateStatusUpdate(tt.obj, tt.old))
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
