package registry

import (
	"crypto/rand"
	"fmt"
	"math/big"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/podnet/podnet/api/resource"
)

func newUID() types.UID { return uuid.NewUUID() }

// generateName appends five random characters from the same alphabet kube-apiserver uses
// (no vowels or look-alikes, so generated names never spell words).
func generateName(prefix string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	const maxPrefix = 63 - 5
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return prefix + string(b)
}

// prepareForCreate clears what clients may not set on create, as the upstream strategies do:
// status is the server's to write for resources that have a status subresource.
func prepareForCreate(info *resource.Info, obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&o.Spec)}
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{}
	case *appsv1.ReplicaSet:
		o.Status = appsv1.ReplicaSetStatus{}
	case *networkingv1.Ingress:
		o.Status = networkingv1.IngressStatus{}
	case *corev1.Namespace:
		o.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	}
}

// qosClass follows the Kubernetes QoS rules: Guaranteed when every container has limits equal to
// requests for cpu and memory, BestEffort when none sets any, Burstable otherwise.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	anySet, guaranteed := false, true
	for _, c := range all {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			anySet = true
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			lim, ok := c.Resources.Limits[r]
			if !ok {
				guaranteed = false
				continue
			}
			if req, ok := c.Resources.Requests[r]; ok && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !anySet:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// swapField returns dst with its top-level key replaced by src's (or removed when src has none).
func swapField(info *resource.Info, dst, src runtime.Object, key string) (runtime.Object, error) {
	d, err := runtime.DefaultUnstructuredConverter.ToUnstructured(dst)
	if err != nil {
		return nil, err
	}
	s, err := runtime.DefaultUnstructuredConverter.ToUnstructured(src)
	if err != nil {
		return nil, err
	}
	if v, ok := s[key]; ok {
		d[key] = v
	} else {
		delete(d, key)
	}
	out := info.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d, out); err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", info.Kind, err)
	}
	return out, nil
}

// keepStatus: a write to the main resource cannot change status.
func keepStatus(info *resource.Info, next, old runtime.Object) (runtime.Object, error) {
	return swapField(info, next, old, "status")
}

// keepAllButStatus: a write to /status changes status only; spec and metadata stay as stored
// (labels, annotations, finalizers and owners included, as ResetObjectMetaForStatus does).
func keepAllButStatus(info *resource.Info, next, old runtime.Object) (runtime.Object, error) {
	return swapField(info, old, next, "status")
}

// bumpGeneration increments metadata.generation when the spec changed.
func bumpGeneration(next, old runtime.Object) {
	ns, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(next)
	os, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(old)
	m, om := accessor(next), accessor(old)
	m.SetGeneration(om.GetGeneration())
	if err1 == nil && err2 == nil && !equality.Semantic.DeepEqual(ns["spec"], os["spec"]) {
		m.SetGeneration(om.GetGeneration() + 1)
	}
}

// normalize does what kube-apiserver does to objects on the way in, whatever the client sent: a
// Secret's stringData is merged into data (winning over it) and never stored; a Namespace always
// carries the kubernetes.io/metadata.name label with its name (what NetworkPolicy selectors use).
func normalize(obj runtime.Object) {
	if n, ok := obj.(*corev1.Namespace); ok {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[corev1.LabelMetadataName] = n.Name
	}
	if s, ok := obj.(*corev1.Secret); ok && len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
}

// usesGeneration: the kinds whose upstream strategies track spec changes in metadata.generation
// (controllers compare it with status.observedGeneration).
func usesGeneration(info *resource.Info) bool {
	switch info {
	case resource.Deployments, resource.ReplicaSets, resource.Ingresses:
		return true
	}
	return false
}
