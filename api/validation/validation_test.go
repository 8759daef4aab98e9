package validation

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidateCreate(t *testing.T) {
	tests := []struct {
		name string
		kind string
		obj  runtime.Object
		want string
	}{
		{"valid service", "Service", newService(nil), ""},
		{"valid load balancer", "Service", newService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
		}), ""},
		{"valid headless", "Service", newService(func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }), ""},
		{"valid external name", "Service", newService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com."
		}), ""},
		{"local traffic needs a health check port", "Service", newService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}), `Service "web" is invalid: spec.healthCheckNodePort: Required value`},
		{"service port out of range", "Service", newService(func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 70000
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(8080)
		}), `Service "web" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive`},
		{"defaulted targetPort repeats a bad port", "Service", newService(func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 }),
			`Service "web" is invalid: [spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive]`},
		{"service protocol", "Service", newService(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "FOO" }),
			`Service "web" is invalid: spec.ports[0].protocol: Unsupported value: "FOO": supported values: "SCTP", "TCP", "UDP"`},
		{"service needs port names when several", "Service", newService(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Port: 80}, {Port: 443}}
		}), `Service "web" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]`},
		{"service duplicate port", "Service", newService(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80, TargetPort: intstr.FromString("http")}}
		}), `Service "web" is invalid: spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`},
		{"service bad port name and target port", "Service", newService(func(s *corev1.Service) {
			s.Spec.Ports[0].Name = "HTTP"
			s.Spec.Ports[0].TargetPort = intstr.FromString("no_good")
		}), `Service "web" is invalid: [spec.ports[0].name: Invalid value: "HTTP": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'), spec.ports[0].targetPort: Invalid value: "no_good": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)]`},
		{"service name must be a DNS-1035 label", "Service", newService(func(s *corev1.Service) { s.Name = "1web" }),
			`Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`},
		{"service type", "Service", newService(func(s *corev1.Service) { s.Spec.Type = "Weird" }),
			`Service "web" is invalid: spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`},
		{"nodePort on ClusterIP", "Service", newService(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
			"Service \"web\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		{"ExternalName needs a name and no cluster IP", "Service", newService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ClusterIP = "10.96.0.20"
		}), `Service "web" is invalid: [spec.clusterIPs: Forbidden: may not be set for ExternalName services, spec.externalName: Required value]`},
		{"headless NodePort", "Service", newService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}), `Service "web" is invalid: spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`},
		{"bad cluster IP and family mismatch", "Service", newService(func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.300"
		}), `Service "web" is invalid: spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
		{"cluster IP family", "Service", newService(func(s *corev1.Service) {
			s.Spec.ClusterIP = "fd00::10"
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}), "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"fd00::10\": expected an IPv4 value as indicated by `ipFamilies[0]`"},
		{"session affinity and traffic policy", "Service", newService(func(s *corev1.Service) {
			s.Spec.SessionAffinity = "Sticky"
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}), `Service "web" is invalid: [spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None", spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services]`},
		{"source ranges", "Service", newService(func(s *corev1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/33"}
		}), "Service \"web\" is invalid: [spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer', spec.LoadBalancerSourceRanges[0]: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)]"},
		{"selector label syntax", "Service", newService(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }),
			`Service "web" is invalid: spec.selector: Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`},
		{"namespace required", "Service", newService(func(s *corev1.Service) { s.Namespace = "" }),
			`Service "web" is invalid: metadata.namespace: Required value`},
		{"name or generateName", "Service", newService(func(s *corev1.Service) { s.Name = ""; s.GenerateName = "web-" }),
			`Service "" is invalid: metadata.name: Required value: name or generateName is required`},
		{"annotations too large", "Service", newService(func(s *corev1.Service) {
			s.Annotations = map[string]string{"big": strings.Repeat("x", 256*1024)}
		}), `Service "web" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes`},

		{"valid pod", "Pod", newPod(nil), ""},
		{"pod without containers", "Pod", newPod(func(p *corev1.Pod) { p.Spec.Containers = nil }),
			`Pod "web" is invalid: spec.containers: Required value`},
		{"container name, image and duplicate", "Pod", newPod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web"}, corev1.Container{Name: "Web", Image: "x"})
		}), `Pod "web" is invalid: [spec.containers[1].image: Required value, spec.containers[1].name: Duplicate value: "web", spec.containers[2].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')]`},
		{"container port and env", "Pod", newPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].ContainerPort = 0
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}}
		}), `Pod "web" is invalid: [spec.containers[0].ports[0].containerPort: Required value, spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '=']`},
		{"mount of a missing volume", "Pod", newPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, {Name: "data"}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
		}), `Pod "web" is invalid: [spec.volumes[1].name: Duplicate value: "data", spec.containers[0].volumeMounts[0].name: Not found: "cache"]`},
		{"restart and dns policy", "Pod", newPod(func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Sometimes"
			p.Spec.DNSPolicy = corev1.DNSNone
		}), "Pod \"web\" is invalid: [spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\", spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None]"},
		{"requests above limits", "Pod", newPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			}
		}), `Pod "web" is invalid: spec.containers[0].resources.requests: Invalid value: "128Mi": must be less than or equal to memory limit of 64Mi`},
		{"probe without handler", "Pod", newPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 2}
		}), `Pod "web" is invalid: [spec.containers[0].livenessProbe: Required value: must specify a handler type, spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1]`},

		{"valid deployment", "Deployment", newDeployment(nil), ""},
		{"selector must match template", "Deployment", newDeployment(func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}), "Deployment \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"},
		{"deployment replicas and restart policy", "Deployment", newDeployment(func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr(int32(-1))
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}), `Deployment "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"]`},
		{"deployment without selector", "Deployment", newDeployment(func(d *appsv1.Deployment) { d.Spec.Selector = nil }),
			"Deployment \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`]"},
		{"replicaset empty selector", "ReplicaSet", defaulted(&appsv1.ReplicaSet{
			ObjectMeta: objMeta("rs"),
			Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{}, Template: newDeployment(nil).Spec.Template},
		}), `ReplicaSet "rs" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment`},

		{"tls secret needs both keys", "Secret", defaulted(&corev1.Secret{
			ObjectMeta: objMeta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"bad key": nil},
		}), `Secret "tls" is invalid: [data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+'), data[tls.crt]: Required value, data[tls.key]: Required value]`},
		{"secret size", "Secret", defaulted(&corev1.Secret{
			ObjectMeta: objMeta("big"), Data: map[string][]byte{"a": make([]byte, corev1.MaxSecretSize+1)},
		}), `Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes`},
		{"configmap key in both bags", "ConfigMap", &corev1.ConfigMap{
			ObjectMeta: objMeta("cfg"), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"a": {1}},
		}, `ConfigMap "cfg" is invalid: data[a]: Invalid value: "a": duplicate of key present in binaryData`},

		{"ingress paths and backends", "Ingress", &networkingv1.Ingress{
			ObjectMeta: objMeta("ing"),
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: "*.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", Backend: serviceBackend("web", "", 80)},
					{Path: "api", PathType: ptr(networkingv1.PathTypePrefix), Backend: serviceBackend("web", "http", 80)},
				}}},
			}}},
		}, "Ingress \"ing\" is invalid: [spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified, spec.rules[0].http.paths[1].path: Invalid value: \"api\": must be an absolute path, spec.rules[0].http.paths[1].backend: Invalid value: \"\": cannot set both port name & port number]"},
		{"ingress needs rules or default backend", "Ingress", &networkingv1.Ingress{ObjectMeta: objMeta("ing")},
			"Ingress \"ing\" is invalid: spec: Invalid value: []v1.IngressRule(nil): either `defaultBackend` or `rules` must be specified"},
		{"ingress class controller", "IngressClass", &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: "podnet"}, Spec: networkingv1.IngressClassSpec{Controller: "podnet"},
		}, `IngressClass "podnet" is invalid: spec.controller: Invalid value: "podnet": must be a domain-prefixed path (such as "acme.io/foo")`},

		{"endpointslice address type", "EndpointSlice", defaulted(&discoveryv1.EndpointSlice{
			ObjectMeta: objMeta("web-abc"), AddressType: "IPv5",
			Endpoints: []discoveryv1.Endpoint{{}},
		}), `EndpointSlice "web-abc" is invalid: [addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6", endpoints[0].addresses: Required value: must contain at least 1 address]`},
		{"endpointslice loopback", "EndpointSlice", defaulted(&discoveryv1.EndpointSlice{
			ObjectMeta: objMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}}},
			Ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}},
		}), `EndpointSlice "web-abc" is invalid: endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`},
		{"endpoints subset", "Endpoints", defaulted(&corev1.Endpoints{
			ObjectMeta: objMeta("web"),
			Subsets:    []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}},
		}), "Endpoints \"web\" is invalid: subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"},
		{"event namespace", "Event", &corev1.Event{
			ObjectMeta:     objMeta("web.1"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "other"},
		}, `Event "web.1" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace`},
		{"namespace name", "Namespace", defaulted(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Team.A"}}),
			`Namespace "Team.A" is invalid: metadata.name: Invalid value: "Team.A": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"namespace finalizer", "Namespace", &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"cleanup"}},
		}, `Namespace "team" is invalid: spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`},
		{"node pod CIDR", "Node", &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/33"},
		}, `Node "node1" is invalid: spec.podCIDRs[0]: Invalid value: "10.244.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`},
		{"scale replicas", "Scale", &autoscalingv1.Scale{ObjectMeta: objMeta("web"), Spec: autoscalingv1.ScaleSpec{Replicas: -2}},
			`Scale "web" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0`},
		{"unknown kinds pass", "PodTemplate", &corev1.PodTemplate{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateCreate(tt.obj)
			if got := message(tt.kind, nameOf(tt.obj), errs); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func serviceBackend(name, portName string, number int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: name, Port: networkingv1.ServiceBackendPort{Name: portName, Number: number},
	}}
}

func nameOf(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return ""
}
