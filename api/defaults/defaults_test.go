package defaults

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		obj  runtime.Object
		// part picks what to print, so expectations stay short.
		part func(runtime.Object) interface{}
		want string
	}{{
		name: "pod gets kubelet-visible defaults",
		obj: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "nginx", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}}},
		part: func(o runtime.Object) interface{} { return o.(*corev1.Pod).Spec },
		want: `
containers:
- image: nginx
  imagePullPolicy: Always
  name: nginx
  ports:
  - containerPort: 80
    protocol: TCP
  resources: {}
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
dnsPolicy: ClusterFirst
enableServiceLinks: true
restartPolicy: Always
schedulerName: default-scheduler
securityContext: {}
terminationGracePeriodSeconds: 30
`,
	}, {
		name: "pull policy follows the tag, probes and volumes get defaults",
		obj: &corev1.Pod{Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}, {Name: "e"}},
			Containers: []corev1.Container{
				{Name: "a", Image: "busybox:1.36", ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}},
				{Name: "b", Image: "registry.local:5000/app@sha256:abcd"},
				{Name: "c", Image: "registry.local:5000/app:latest", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resourceQ("1")}}},
			},
		}},
		part: func(o runtime.Object) interface{} {
			s := o.(*corev1.Pod).Spec
			return map[string]interface{}{"volumes": s.Volumes, "probe": s.Containers[0].ReadinessProbe,
				"pull":      []corev1.PullPolicy{s.Containers[0].ImagePullPolicy, s.Containers[1].ImagePullPolicy, s.Containers[2].ImagePullPolicy},
				"resources": s.Containers[2].Resources}
		},
		want: `
probe:
  failureThreshold: 3
  httpGet:
    path: /
    port: 80
    scheme: HTTP
  periodSeconds: 10
  successThreshold: 1
  timeoutSeconds: 1
pull:
- IfNotPresent
- IfNotPresent
- Always
resources:
  limits:
    cpu: "1"
  requests:
    cpu: "1"
volumes:
- name: s
  secret:
    defaultMode: 420
    secretName: s
- emptyDir: {}
  name: e
`,
	}, {
		name: "service defaults",
		obj: &corev1.Service{Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80}, {Port: 443, TargetPort: intstr.FromString("https")}},
		}},
		part: func(o runtime.Object) interface{} { return o.(*corev1.Service).Spec },
		want: `
allocateLoadBalancerNodePorts: true
externalTrafficPolicy: Cluster
internalTrafficPolicy: Cluster
ports:
- port: 80
  protocol: TCP
  targetPort: 80
- port: 443
  protocol: TCP
  targetPort: https
sessionAffinity: None
type: LoadBalancer
`,
	}, {
		name: "service ClientIP affinity, headless clusterIPs synced, ExternalName has no traffic policy",
		obj: &corev1.List{Items: []runtime.RawExtension{
			{Object: &corev1.Service{Spec: corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP, ClusterIP: "None"}}},
			{Object: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}},
		}},
		part: func(o runtime.Object) interface{} {
			var specs []corev1.ServiceSpec
			for _, item := range o.(*corev1.List).Items {
				Default(item.Object)
				specs = append(specs, item.Object.(*corev1.Service).Spec)
			}
			return specs
		},
		want: `
- clusterIP: None
  clusterIPs:
  - None
  internalTrafficPolicy: Cluster
  sessionAffinity: ClientIP
  sessionAffinityConfig:
    clientIP:
      timeoutSeconds: 10800
  type: ClusterIP
- externalName: example.com
  sessionAffinity: None
  type: ExternalName
`,
	}, {
		name: "deployment defaults",
		obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "a", Image: "busybox:1.36"}},
		}}}},
		part: func(o runtime.Object) interface{} {
			s := o.(*appsv1.Deployment).Spec
			s.Template = corev1.PodTemplateSpec{}
			return s
		},
		want: `
progressDeadlineSeconds: 600
replicas: 1
revisionHistoryLimit: 10
selector: null
strategy:
  rollingUpdate:
    maxSurge: 25%
    maxUnavailable: 25%
  type: RollingUpdate
template:
  metadata:
    creationTimestamp: null
  spec:
    containers: null
`,
	}, {
		name: "replicaset, secret, namespace, endpointslice",
		obj:  &corev1.List{},
		part: func(runtime.Object) interface{} {
			rs := &appsv1.ReplicaSet{}
			sec := &corev1.Secret{StringData: map[string]string{"k": "v"}}
			ns := &corev1.Namespace{}
			es := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{}}}
			for _, o := range []runtime.Object{rs, sec, ns, es} {
				Default(o)
			}
			return map[string]interface{}{"replicas": rs.Spec.Replicas, "secret": sec, "namespace": ns, "slicePorts": es.Ports}
		},
		want: `
namespace:
  metadata:
    creationTimestamp: null
  spec:
    finalizers:
    - kubernetes
  status:
    phase: Active
replicas: 1
secret:
  data:
    k: dg==
  metadata:
    creationTimestamp: null
  type: Opaque
slicePorts:
- name: ""
  protocol: TCP
`,
	}, {
		name: "existing namespace keeps its finalizers as they are",
		obj:  &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "5"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
		part: func(o runtime.Object) interface{} { return o.(*corev1.Namespace).Spec },
		want: `{}
`,
	}, {
		name: "unknown types are untouched",
		obj:  &corev1.ConfigMap{Data: map[string]string{"a": "b"}},
		part: func(o runtime.Object) interface{} { return o },
		want: `
data:
  a: b
metadata:
  creationTimestamp: null
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Default(tt.obj)
			got, err := yaml.Marshal(tt.part(tt.obj))
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if want := strings.TrimPrefix(tt.want, "\n"); string(got) != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestImageTag(t *testing.T) {
	tests := []struct{ image, want string }{
		{"nginx", "latest"},
		{"nginx:1.27", "1.27"},
		{"localhost:5000/nginx", "latest"},
		{"localhost:5000/nginx:edge", "edge"},
		{"nginx@sha256:0123", ""},
		{"nginx:1.27@sha256:0123", "1.27"},
	}
	for _, tt := range tests {
		if got := imageTag(tt.image); got != tt.want {
			t.Errorf("imageTag(%q) = %q, want %q", tt.image, got, tt.want)
		}
	}
}
