package endpoints

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var port8080 = intstr.FromInt32(8080)

// stored turns a planned slice into what the store would hold: named, versioned.
func stored(s *discoveryv1.EndpointSlice, name string) *discoveryv1.EndpointSlice {
	out := s.DeepCopy()
	out.Name, out.ResourceVersion = name, "7"
	return out
}

// existingFor plans the given pods from scratch and stores the result as web-a, web-b, ...
func existingFor(svc *corev1.Service, pods ...*corev1.Pod) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for i, s := range planSlices(svc, pods, nil, 100).Create {
		out = append(out, stored(s, fmt.Sprintf("web-%c", 'a'+i)))
	}
	return out
}

func TestPlanSlices(t *testing.T) {
	named := intstr.FromString("http")
	tests := []struct {
		name     string
		svc      *corev1.Service
		pods     []*corev1.Pod
		existing []*discoveryv1.EndpointSlice
		want     string
	}{{
		name: "ready, not ready, terminating; terminal and IP-less pods left out; sorted by address",
		svc:  svcObj(port8080),
		pods: []*corev1.Pod{podObj("a", "10.244.0.10"), podObj("b", "10.244.0.9", notReady), podObj("c", "10.244.0.11", terminating),
			podObj("d", "10.244.0.12", phase(corev1.PodSucceeded)), podObj("e", ""), podObj("f", "10.244.0.13", terminating, notReady)},
		want: "create web-* IPv4 [http/TCP/8080] 10.244.0.9(b node1 ---) 10.244.0.10(a node1 rs-) 10.244.0.11(c node1 -st) 10.244.0.13(f node1 --t)",
	}, {
		name: "publishNotReadyAddresses: always ready",
		svc:  svcObj(port8080, publishNotReady),
		pods: []*corev1.Pod{podObj("b", "10.244.0.9", notReady), podObj("c", "10.244.0.11", terminating)},
		want: "create web-* IPv4 [http/TCP/8080] 10.244.0.9(b node1 r--) 10.244.0.11(c node1 rst)",
	}, {
		name: "named target port resolved per pod; a pod without it gets no port",
		svc:  svcObj(named),
		pods: []*corev1.Pod{podObj("a", "10.244.0.1", withPort("http", 8080)), podObj("b", "10.244.0.2", withPort("http", 9090)),
			podObj("c", "10.244.0.3", withPort("http", 8080)), podObj("d", "10.244.0.4")},
		want: "create web-* IPv4 [] 10.244.0.4(d node1 rs-)\n" +
			"create web-* IPv4 [http/TCP/8080] 10.244.0.1(a node1 rs-) 10.244.0.3(c node1 rs-)\n" +
			"create web-* IPv4 [http/TCP/9090] 10.244.0.2(b node1 rs-)",
	}, {
		name: "no pods: one placeholder",
		svc:  svcObj(port8080),
		want: "create web-* IPv4 [] ",
	}, {
		name:     "placeholder already there: nothing to write",
		svc:      svcObj(port8080),
		existing: existingFor(svcObj(port8080)),
		want:     "",
	}, {
		name:     "first pod reuses the placeholder in place",
		svc:      svcObj(port8080),
		pods:     []*corev1.Pod{podObj("a", "10.244.0.1")},
		existing: existingFor(svcObj(port8080)),
		want:     "update web-a IPv4 [http/TCP/8080] 10.244.0.1(a node1 rs-)",
	}, {
		name:     "unchanged: nothing to write",
		svc:      svcObj(port8080),
		pods:     []*corev1.Pod{podObj("a", "10.244.0.1"), podObj("b", "10.244.0.2")},
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1"), podObj("b", "10.244.0.2")),
		want:     "",
	}, {
		name:     "pod turns not ready: updated in place",
		svc:      svcObj(port8080),
		pods:     []*corev1.Pod{podObj("a", "10.244.0.1"), podObj("b", "10.244.0.2", notReady)},
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1"), podObj("b", "10.244.0.2")),
		want:     "update web-a IPv4 [http/TCP/8080] 10.244.0.1(a node1 rs-) 10.244.0.2(b node1 ---)",
	}, {
		name:     "pod gone: removed from its slice",
		svc:      svcObj(port8080),
		pods:     []*corev1.Pod{podObj("b", "10.244.0.2")},
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1"), podObj("b", "10.244.0.2")),
		want:     "update web-a IPv4 [http/TCP/8080] 10.244.0.2(b node1 rs-)",
	}, {
		name:     "target port changed: the slice is rewritten, not replaced",
		svc:      svcObj(intstr.FromInt32(9090)),
		pods:     []*corev1.Pod{podObj("a", "10.244.0.1")},
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1")),
		want:     "update web-a IPv4 [http/TCP/9090] 10.244.0.1(a node1 rs-)",
	}, {
		name:     "service gone: all its slices deleted",
		svc:      nil,
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1")),
		want:     "delete web-a",
	}, {
		name: "selector removed: all its slices deleted",
		svc: func() *corev1.Service {
			s := svcObj(port8080)
			s.Spec.Selector = nil
			return s
		}(),
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1")),
		want:     "delete web-a",
	}, {
		name: "slice of an earlier service of the same name: replaced",
		svc: func() *corev1.Service {
			s := svcObj(port8080)
			s.UID = "new-uid"
			return s
		}(),
		pods:     []*corev1.Pod{podObj("a", "10.244.0.1")},
		existing: existingFor(svcObj(port8080), podObj("a", "10.244.0.1")),
		want:     "create web-* IPv4 [http/TCP/8080] 10.244.0.1(a node1 rs-)\ndelete web-a",
	}, {
		name: "headless: hostname only for pods whose subdomain names the service",
		svc:  svcObj(port8080, headless),
		pods: []*corev1.Pod{podObj("a", "10.244.0.1", hostname("a", "web")), podObj("b", "10.244.0.2", hostname("b", "other"))},
		want: "create web-* IPv4 [http/TCP/8080] 10.244.0.1(a node1 rs- a) 10.244.0.2(b node1 rs-)",
	}, {
		name: "dual-stack: one slice per family",
		svc: svcObj(port8080, func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}),
		pods: []*corev1.Pod{podObj("a", "10.244.0.1", func(p *corev1.Pod) {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00:0::1"})
		})},
		want: "create web-* IPv4 [http/TCP/8080] 10.244.0.1(a node1 rs-)\ncreate web-* IPv6 [http/TCP/8080] fd00::1(a node1 rs-)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderPlan(planSlices(tt.svc, tt.pods, tt.existing, 100))
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func manyPods(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := 0; i < n; i++ {
		out = append(out, podObj(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.244.%d.%d", i/200, i%200+1)))
	}
	return out
}

func sizes(p slicePlan) string {
	var out []string
	for _, s := range p.Create {
		out = append(out, fmt.Sprintf("create %d", len(s.Endpoints)))
	}
	for _, s := range p.Update {
		out = append(out, fmt.Sprintf("update %s %d", s.Name, len(s.Endpoints)))
	}
	for _, s := range p.Delete {
		out = append(out, "delete "+s.Name)
	}
	return strings.Join(out, ", ")
}

func TestPlanSlicesPacking(t *testing.T) {
	svc := svcObj(port8080)
	pods := manyPods(250)
	first := planSlices(svc, pods, nil, 100)
	if got, want := sizes(first), "create 100, create 100, create 50"; got != want {
		t.Fatalf("250 pods: got %q, want %q", got, want)
	}
	var existing []*discoveryv1.EndpointSlice
	for i, s := range first.Create {
		existing = append(existing, stored(s, fmt.Sprintf("web-%c", 'a'+i)))
	}
	tests := []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{"no change", pods, ""},
		{"ten more go to the fullest slice they fit in", manyPods(260), "update web-c 60"},
		{"sixty more fit no slice whole: a new one, the others untouched (as upstream)", manyPods(310), "create 60"},
		{"removing from a full slice leaves the others alone", pods[1:], "update web-a 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sizes(planSlices(svc, tt.pods, existing, 100)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNewSliceObject pins the whole object the API sees: labels, owner, generateName.
func TestNewSliceObject(t *testing.T) {
	svc := svcObj(port8080, headless, func(s *corev1.Service) {
		s.Labels = map[string]string{"team": "a", discoveryv1.LabelManagedBy: "someone-else"}
	})
	plan := planSlices(svc, []*corev1.Pod{podObj("a", "10.244.0.1")}, nil, 100)
	got, err := json.Marshal(plan.Create[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"metadata":{"generateName":"web-","namespace":"default","creationTimestamp":null,` +
		`"labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"web","service.kubernetes.io/headless":"","team":"a"},` +
		`"ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"web","uid":"svc-uid","controller":true,"blockOwnerDeletion":true}]},` +
		`"addressType":"IPv4","endpoints":[{"addresses":["10.244.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false},` +
		`"targetRef":{"kind":"Pod","namespace":"default","name":"a","uid":"uid-a"},"nodeName":"node1"}],` +
		`"ports":[{"name":"http","protocol":"TCP","port":8080}]}`
	if string(got) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestAddressTypes(t *testing.T) {
	tests := []struct {
		name string
		svc  func(*corev1.Service)
		want string
	}{
		{"families", func(s *corev1.Service) {}, "[IPv4]"},
		{"no families: ClusterIP's", func(s *corev1.Service) { s.Spec.IPFamilies, s.Spec.ClusterIP = nil, "fd00::10" }, "[IPv6]"},
		{"headless without families: both", func(s *corev1.Service) { headless(s); s.Spec.IPFamilies = nil }, "[IPv4 IPv6]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(addressTypes(svcObj(port8080, tt.svc))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}
