package resource

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Subresource is a path below an object (pods/status, deployments/scale, pods/log).
type Subresource struct {
	Name string
	// GVK is the kind the subresource speaks; it differs from the parent for scale
	// (autoscaling/v1 Scale) and is empty for streaming ones (log, exec, attach).
	GVK   schema.GroupVersionKind
	Verbs []string
}

// Info describes one resource served by podnet.
type Info struct {
	GVR          schema.GroupVersionResource
	Kind         string
	ListKind     string
	Singular     string
	ShortNames   []string
	Categories   []string
	Namespaced   bool
	Subresources []Subresource
	// New and NewList return empty typed objects for decoding.
	New     func() runtime.Object
	NewList func() runtime.Object
	// Fields returns the field-selector fields of an object beyond metadata.name and
	// metadata.namespace, which every resource supports.
	Fields func(obj runtime.Object) map[string]string
}

// Verbs every podnet resource supports.
var Verbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

var statusVerbs = []string{"get", "patch", "update"}

// GVK returns the resource's group, version and kind.
func (i *Info) GVK() schema.GroupVersionKind { return i.GVR.GroupVersion().WithKind(i.Kind) }

// GroupResource returns the resource's group and plural name (used in error messages).
func (i *Info) GroupResource() schema.GroupResource { return i.GVR.GroupResource() }

// Subresource returns the named subresource, if the resource has it.
func (i *Info) Subresource(name string) (Subresource, bool) {
	for _, s := range i.Subresources {
		if s.Name == name {
			return s, true
		}
	}
	return Subresource{}, false
}

// HasStatus reports whether writes to the main resource ignore status (and /status ignores spec).
func (i *Info) HasStatus() bool { _, ok := i.Subresource("status"); return ok }

func status(kind schema.GroupVersionKind) Subresource {
	return Subresource{Name: "status", GVK: kind, Verbs: statusVerbs}
}

var scale = Subresource{
	Name:  "scale",
	GVK:   autoscalingv1.SchemeGroupVersion.WithKind("Scale"),
	Verbs: statusVerbs,
}

func core(res string) schema.GroupVersionResource { return corev1.SchemeGroupVersion.WithResource(res) }

// all is the catalogue; order is the order discovery lists resources in.
var all = []*Info{
	{GVR: core("namespaces"), Kind: "Namespace", Singular: "namespace", ShortNames: []string{"ns"},
		New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
		Fields: namespaceFields},
	{GVR: core("pods"), Kind: "Pod", Singular: "pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true,
		New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
		Fields: podFields},
	{GVR: core("services"), Kind: "Service", Singular: "service", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true,
		New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} }},
	{GVR: core("endpoints"), Kind: "Endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true,
		New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} }},
	{GVR: core("events"), Kind: "Event", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true,
		New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
		Fields: eventFields},
	{GVR: core("secrets"), Kind: "Secret", Singular: "secret", Namespaced: true,
		New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
		Fields: secretFields},
	{GVR: core("configmaps"), Kind: "ConfigMap", Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true,
		New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} }},
	{GVR: core("nodes"), Kind: "Node", Singular: "node", ShortNames: []string{"no"},
		New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
		Fields: nodeFields},
	{GVR: discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), Kind: "EndpointSlice", Singular: "endpointslice", Namespaced: true,
		New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} }},
	{GVR: appsv1.SchemeGroupVersion.WithResource("deployments"), Kind: "Deployment", Singular: "deployment", ShortNames: []string{"deploy"},
		Categories: []string{"all"}, Namespaced: true,
		New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} }},
	{GVR: appsv1.SchemeGroupVersion.WithResource("replicasets"), Kind: "ReplicaSet", Singular: "replicaset", ShortNames: []string{"rs"},
		Categories: []string{"all"}, Namespaced: true,
		New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Fields: replicaSetFields},
	{GVR: networkingv1.SchemeGroupVersion.WithResource("ingresses"), Kind: "Ingress", Singular: "ingress", ShortNames: []string{"ing"},
		Namespaced: true,
		New:        func() runtime.Object { return &networkingv1.Ingress{} }, NewList: func() runtime.Object { return &networkingv1.IngressList{} }},
	{GVR: networkingv1.SchemeGroupVersion.WithResource("ingressclasses"), Kind: "IngressClass", Singular: "ingressclass",
		New: func() runtime.Object { return &networkingv1.IngressClass{} }, NewList: func() runtime.Object { return &networkingv1.IngressClassList{} }},
}

func init() {
	for _, i := range all {
		i.ListKind = i.Kind + "List"
		switch i.GVR.Resource {
		case "pods":
			i.Subresources = []Subresource{status(i.GVK()),
				{Name: "log", Verbs: []string{"get"}},
				{Name: "exec", Verbs: []string{"create", "get"}},
				{Name: "attach", Verbs: []string{"create", "get"}}}
		case "services", "namespaces", "nodes", "ingresses":
			i.Subresources = []Subresource{status(i.GVK())}
		case "deployments", "replicasets":
			i.Subresources = []Subresource{status(i.GVK()), scale}
		}
	}
}

// All returns every resource, in discovery order.
func All() []*Info { return all }

// Lookup finds a resource by group, version and plural name.
func Lookup(gvr schema.GroupVersionResource) (*Info, bool) {
	for _, i := range all {
		if i.GVR == gvr {
			return i, true
		}
	}
	return nil, false
}

// ForKind finds a resource by group and kind.
func ForKind(gk schema.GroupKind) (*Info, bool) {
	for _, i := range all {
		if i.GVR.Group == gk.Group && i.Kind == gk.Kind {
			return i, true
		}
	}
	return nil, false
}

// GroupVersions returns the served group-versions, the core group ("", "v1") first, then by name.
func GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var gvs []schema.GroupVersion
	for _, i := range all {
		gv := i.GVR.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			gvs = append(gvs, gv)
		}
	}
	sort.SliceStable(gvs, func(a, b int) bool { return gvs[a].Group < gvs[b].Group })
	return gvs
}
