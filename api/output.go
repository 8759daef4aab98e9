package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/printers"
	"github.com/podnet/podnet/api/resource"
)

// writeObject answers with one object in the representation the client asked for.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, info *resource.Info, obj runtime.Object) error {
	switch acceptOf(r) {
	case acceptTable:
		t, err := s.table(r, info, []runtime.Object{obj})
		if err != nil {
			return err
		}
		t.ResourceVersion = accessor(obj).GetResourceVersion()
		writeJSON(w, code, t)
	case acceptMetadata:
		writeJSON(w, code, partialMetadata(obj))
	default:
		obj.GetObjectKind().SetGroupVersionKind(info.GVK())
		writeJSON(w, code, obj)
	}
	return nil
}

// writeList answers with a list: a typed list (PodList, not List) carrying the resourceVersion
// it is consistent with, or a Table, or a PartialObjectMetadataList.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, info *resource.Info, objs []runtime.Object, rv uint64) error {
	rvs := strconv.FormatUint(rv, 10)
	switch acceptOf(r) {
	case acceptTable:
		t, err := s.table(r, info, objs)
		if err != nil {
			return err
		}
		t.ResourceVersion = rvs
		writeJSON(w, http.StatusOK, t)
		return nil
	case acceptMetadata:
		list := &metav1.PartialObjectMetadataList{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"},
			ListMeta: metav1.ListMeta{ResourceVersion: rvs},
			Items:    []metav1.PartialObjectMetadata{},
		}
		for _, o := range objs {
			list.Items = append(list.Items, *partialMetadata(o))
		}
		writeJSON(w, http.StatusOK, list)
		return nil
	}
	list := info.NewList()
	if err := meta.SetList(list, objs); err != nil {
		return err
	}
	la, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	la.SetResourceVersion(rvs)
	list.GetObjectKind().SetGroupVersionKind(info.GVR.GroupVersion().WithKind(info.ListKind))
	writeJSON(w, http.StatusOK, list)
	return nil
}

// table builds the Table for objs; rows carry the object as includeObject asks (default:
// PartialObjectMetadata, which kubectl needs for -A, --show-labels and -L).
func (s *Server) table(r *http.Request, info *resource.Info, objs []runtime.Object) (*metav1.Table, error) {
	t, err := printers.Table(schema.GroupKind{Group: info.GVR.Group, Kind: info.Kind}, objs, s.now())
	if err != nil {
		return nil, err
	}
	include := r.URL.Query().Get("includeObject")
	for i := range t.Rows {
		switch include {
		case "None":
		case "Object":
			t.Rows[i].Object, err = raw(objs[i])
		default:
			t.Rows[i].Object, err = raw(partialMetadata(objs[i]))
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	m := accessor(obj)
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
			Generation: m.GetGeneration(), CreationTimestamp: m.GetCreationTimestamp(),
			DeletionTimestamp: m.GetDeletionTimestamp(), DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(),
			Labels: m.GetLabels(), Annotations: m.GetAnnotations(), OwnerReferences: m.GetOwnerReferences(),
			Finalizers: m.GetFinalizers(), GenerateName: m.GetGenerateName(),
		},
	}
}

func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		return &metav1.ObjectMeta{}
	}
	return m
}

// raw embeds obj in a RawExtension: its JSON form is only Raw, never Object.
func raw(obj any) (runtime.RawExtension, error) {
	data, err := json.Marshal(obj)
	return runtime.RawExtension{Raw: data}, err
}
