package validation

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateCreate returns every problem with a new object (metadata and spec), or nil.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	var errs field.ErrorList
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = validatePodCreate(o)
	case *corev1.Service:
		errs = validateService(o)
	case *corev1.Endpoints:
		errs = validateEndpoints(o)
	case *corev1.Event:
		errs = validateEvent(o)
	case *corev1.Secret:
		errs = validateSecret(o)
	case *corev1.ConfigMap:
		errs = validateConfigMap(o)
	case *corev1.Node:
		errs = validateNode(o)
	case *corev1.Namespace:
		errs = validateNamespace(o)
	case *discoveryv1.EndpointSlice:
		errs = validateEndpointSlice(o)
	case *appsv1.Deployment:
		errs = validateDeployment(o)
	case *appsv1.ReplicaSet:
		errs = validateReplicaSet(o)
	case *networkingv1.Ingress:
		errs = validateIngressCreate(o)
	case *networkingv1.IngressClass:
		errs = validateIngressClass(o)
	case *autoscalingv1.Scale:
		errs = validateScale(o)
	}
	return nilIfEmpty(errs)
}

// ValidateUpdate also checks immutable fields against old (e.g. Service spec.clusterIP,
// Deployment/ReplicaSet spec.selector, Pod spec except image/activeDeadlineSeconds/tolerations,
// Secret/ConfigMap when immutable: true, metadata.name/namespace/uid/creationTimestamp).
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	var errs field.ErrorList
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = withOld(o, old, validatePodUpdate)
	case *corev1.Service:
		errs = withOld(o, old, validateServiceUpdate)
	case *corev1.Endpoints:
		errs = withOld(o, old, validateEndpointsUpdate)
	case *corev1.Event:
		errs = withOld(o, old, validateEventUpdate)
	case *corev1.Secret:
		errs = withOld(o, old, validateSecretUpdate)
	case *corev1.ConfigMap:
		errs = withOld(o, old, validateConfigMapUpdate)
	case *corev1.Node:
		errs = withOld(o, old, validateNodeUpdate)
	case *corev1.Namespace:
		errs = withOld(o, old, validateNamespaceUpdate)
	case *discoveryv1.EndpointSlice:
		errs = withOld(o, old, validateEndpointSliceUpdate)
	case *appsv1.Deployment:
		errs = withOld(o, old, validateDeploymentUpdate)
	case *appsv1.ReplicaSet:
		errs = withOld(o, old, validateReplicaSetUpdate)
	case *networkingv1.Ingress:
		errs = withOld(o, old, validateIngressUpdate)
	case *networkingv1.IngressClass:
		errs = withOld(o, old, validateIngressClassUpdate)
	case *autoscalingv1.Scale:
		errs = withOld(o, old, validateScaleUpdate)
	}
	return nilIfEmpty(errs)
}

// ValidateStatusUpdate checks a status-subresource write (metadata + status), e.g. loadBalancer ingress IPs.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	var errs field.ErrorList
	switch o := obj.(type) {
	case *corev1.Pod:
		errs = withOld(o, old, validatePodStatusUpdate)
	case *corev1.Service:
		errs = withOld(o, old, validateServiceStatusUpdate)
	case *corev1.Node:
		errs = withOld(o, old, validateNodeUpdate)
	case *corev1.Namespace:
		errs = withOld(o, old, validateNamespaceStatusUpdate)
	case *appsv1.Deployment:
		errs = withOld(o, old, validateDeploymentStatusUpdate)
	case *appsv1.ReplicaSet:
		errs = withOld(o, old, validateReplicaSetStatusUpdate)
	case *networkingv1.Ingress:
		errs = withOld(o, old, validateIngressStatusUpdate)
	default:
		errs = validateMetaOnlyUpdate(obj, old)
	}
	return nilIfEmpty(errs)
}

// withOld runs an update validator once old is known to be the same type as obj.
func withOld[T runtime.Object](obj T, old runtime.Object, fn func(obj, old T) field.ErrorList) field.ErrorList {
	o, ok := old.(T)
	if !ok {
		return field.ErrorList{field.InternalError(field.NewPath("kind"),
			fmt.Errorf("old object is %T, new object is %T", old, obj))}
	}
	return fn(obj, o)
}

func nilIfEmpty(errs field.ErrorList) field.ErrorList {
	if len(errs) == 0 {
		return nil
	}
	return errs
}
