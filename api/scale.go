package api

import (
	"encoding/json"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

var scaleInfo = &resource.Info{
	GVR:  autoscalingv1.SchemeGroupVersion.WithResource("scale"),
	Kind: "Scale",
	New:  func() runtime.Object { return &autoscalingv1.Scale{} },
}

// replicas gives access to the replica count and selector of a scalable object.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	var spec, status int32
	var sel *metav1.LabelSelector
	var om metav1.ObjectMeta
	switch o := obj.(type) {
	case *appsv1.Deployment:
		om, sel, status = o.ObjectMeta, o.Spec.Selector, o.Status.Replicas
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
	case *appsv1.ReplicaSet:
		om, sel, status = o.ObjectMeta, o.Spec.Selector, o.Status.Replicas
		if o.Spec.Replicas != nil {
			spec = *o.Spec.Replicas
		}
	default:
		return nil, apierrors.NewBadRequest("scale is not supported for this kind")
	}
	selector := ""
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, err
		}
		selector = s.String()
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: om.Name, Namespace: om.Namespace, UID: om.UID,
			ResourceVersion: om.ResourceVersion, CreationTimestamp: om.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	}
}

func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	var mutate func(cur runtime.Object) (runtime.Object, error)
	var warnings []string
	switch ri.verb {
	case "get":
		obj, err := s.reg.Get(ri.info, ri.namespace, ri.name)
		if err != nil {
			return err
		}
		sc, err := scaleOf(obj)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sc)
		return nil
	case "update":
		obj, warns, err := s.decodeRequest(r, scaleInfo)
		if err != nil {
			return err
		}
		warnings = warns
		want := obj.(*autoscalingv1.Scale)
		mutate = func(cur runtime.Object) (runtime.Object, error) { return applyScale(ri.info, cur, want) }
	case "patch":
		p, err := parsePatch(r)
		if err != nil {
			return err
		}
		mutate = func(cur runtime.Object) (runtime.Object, error) {
			sc, err := scaleOf(cur)
			if err != nil {
				return nil, err
			}
			obj, warns, err := patchObject(p, scaleInfo, sc)
			warnings = warns
			if err != nil {
				return nil, err
			}
			return applyScale(ri.info, cur, obj.(*autoscalingv1.Scale))
		}
	default:
		return apierrors.NewMethodNotSupported(ri.info.GroupResource(), ri.verb)
	}
	opts, err := writeOptions(r)
	if err != nil {
		return err
	}
	out, err := s.reg.Update(r.Context(), ri.info, ri.namespace, ri.name, "", mutate, opts)
	if err != nil {
		return err
	}
	sc, err := scaleOf(out)
	if err != nil {
		return err
	}
	writeWarnings(w, warnings)
	data, _ := json.Marshal(sc)
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
	return nil
}

// applyScale sets the replicas a Scale asks for on cur, honouring the Scale's resourceVersion.
func applyScale(info *resource.Info, cur runtime.Object, want *autoscalingv1.Scale) (runtime.Object, error) {
	if want.Spec.Replicas < 0 {
		return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), want.Name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
	}
	m := accessor(cur)
	if want.ResourceVersion != "" && want.ResourceVersion != m.GetResourceVersion() {
		return nil, registry.Conflict(info, m.GetName())
	}
	setReplicas(cur, want.Spec.Replicas)
	return cur, nil
}
