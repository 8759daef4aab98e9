package endpoints

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPlanEndpoints(t *testing.T) {
	twoPorts := func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP,
			TargetPort: intstr.FromString("metrics")})
	}
	metrics := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP}}
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string
	}{{
		name: "ready and not ready; terminating and terminal pods left out",
		svc:  svcObj(port8080, func(s *corev1.Service) { s.Labels = map[string]string{"team": "a"} }),
		pods: []*corev1.Pod{podObj("a", "10.244.0.10"), podObj("b", "10.244.0.9", notReady), podObj("c", "10.244.0.11", terminating),
			podObj("d", "10.244.0.12", phase(corev1.PodFailed))},
		want: "ready=[10.244.0.10(a)] notready=[10.244.0.9(b)] ports=[http/TCP/8080]\nlabel team=a",
	}, {
		name: "publishNotReadyAddresses: terminating and not-ready pods listed as ready",
		svc:  svcObj(port8080, publishNotReady),
		pods: []*corev1.Pod{podObj("b", "10.244.0.9", notReady), podObj("c", "10.244.0.11", terminating)},
		want: "ready=[10.244.0.9(b) 10.244.0.11(c)] notready=[] ports=[http/TCP/8080]",
	}, {
		name: "addresses grouped by the ports they offer (upstream's RepackSubsets)",
		svc:  svcObj(port8080, twoPorts),
		pods: []*corev1.Pod{podObj("a", "10.244.0.1", metrics), podObj("b", "10.244.0.2"), podObj("c", "10.244.0.3", metrics)},
		want: "ready=[10.244.0.1(a) 10.244.0.2(b) 10.244.0.3(c)] notready=[] ports=[http/TCP/8080]\n" +
			"ready=[10.244.0.1(a) 10.244.0.3(c)] notready=[] ports=[metrics/TCP/9100]",
	}, {
		name: "headless without ports: addresses, hostname, headless label",
		svc:  svcObj(port8080, headless, func(s *corev1.Service) { s.Spec.Ports = nil }),
		pods: []*corev1.Pod{podObj("a", "10.244.0.1", hostname("a", "web"))},
		want: "ready=[10.244.0.1(a a)] notready=[] ports=[]\nlabel service.kubernetes.io/headless=",
	}, {
		name: "no pods: an empty object",
		svc:  svcObj(port8080),
		want: "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderEndpoints(planEndpoints(tt.svc, tt.pods, nil)); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestPlanEndpointsNoChange(t *testing.T) {
	svc := svcObj(port8080)
	pods := []*corev1.Pod{podObj("a", "10.244.0.1"), podObj("b", "10.244.0.2", notReady)}
	cur := planEndpoints(svc, pods, nil)
	cur.ResourceVersion = "5"
	if got := planEndpoints(svc, pods, cur); got != nil {
		t.Fatalf("unchanged pods rewrote the Endpoints:\n%s", renderEndpoints(got))
	}
	next := planEndpoints(svc, pods[:1], cur)
	if got, want := renderEndpoints(next), "ready=[10.244.0.1(a)] notready=[] ports=[http/TCP/8080]"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if next.ResourceVersion != "5" {
		t.Fatalf("update lost the resourceVersion it was planned from: %q", next.ResourceVersion)
	}
}

func TestPlanEndpointsTruncated(t *testing.T) {
	var pods []*corev1.Pod
	for i := 0; i < 1200; i++ {
		var opts []podOpt
		if i%4 == 0 {
			opts = append(opts, notReady) // 300 not ready, 900 ready
		}
		pods = append(pods, podObj(fmt.Sprintf("p%04d", i), fmt.Sprintf("10.244.%d.%d", i/250, i%250+1), opts...))
	}
	ep := planEndpoints(svcObj(port8080), pods, nil)
	var ready, notReadyN int
	for _, s := range ep.Subsets {
		ready += len(s.Addresses)
		notReadyN += len(s.NotReadyAddresses)
	}
	got := fmt.Sprintf("ready=%d notready=%d annotation=%q", ready, notReadyN, ep.Annotations[corev1.EndpointsOverCapacity])
	if want := `ready=900 notready=100 annotation="truncated"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// Back under capacity: the annotation goes.
	ep.ResourceVersion = "3"
	next := planEndpoints(svcObj(port8080), pods[:10], ep)
	if _, ok := next.Annotations[corev1.EndpointsOverCapacity]; ok {
		t.Fatal("over-capacity annotation kept under capacity")
	}
}
