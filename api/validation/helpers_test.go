package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podnet/podnet/api/defaults"
)

// message renders errs the way the API layer will show them to kubectl users.
func message(kind, name string, errs field.ErrorList) string {
	if len(errs) == 0 {
		return ""
	}
	return apierrors.NewInvalid(schema.GroupKind{Kind: kind}, name, errs).Error()
}

func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default"}
}

func defaulted[T runtime.Object](obj T) T {
	defaults.Default(obj)
	return obj
}

func newService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: objMeta("web"),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return defaulted(svc)
}

func newPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: objMeta("web"),
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}}}},
		},
	}
	if mutate != nil {
		mutate(pod)
	}
	return defaulted(pod)
}

func newDeployment(mutate func(*appsv1.Deployment)) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: objMeta("web"),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
	if mutate != nil {
		mutate(d)
	}
	return defaulted(d)
}

// stored marks an object as already persisted, as the API layer has it on update.
func stored[T metav1.Object](obj T) T {
	obj.SetResourceVersion("7")
	obj.SetUID("uid-1")
	return obj
}

func ptr[T any](v T) *T { return &v }
