package discovery

import (
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/resource"
)

// subresourceKind is the kind discovery reports for a subresource. The catalogue leaves it empty
// for streaming subresources; kube-apiserver reports the parent kind for log (pods/log answers
// "Pod") and <Kind><Subresource>Options for the connect ones (pods/exec answers "PodExecOptions").
// client-go drops aggregated subresources without a kind, so every one needs it.
func subresourceKind(info *resource.Info, sub resource.Subresource) schema.GroupVersionKind {
	if !sub.GVK.Empty() {
		return sub.GVK
	}
	if sub.Name == "log" {
		return info.GVK()
	}
	return info.GVR.GroupVersion().WithKind(info.Kind + capitalize(sub.Name) + "Options")
}

// byGroupVersion splits the catalogue by group-version, keeping its order.
func byGroupVersion(infos []*resource.Info) map[schema.GroupVersion][]*resource.Info {
	out := map[schema.GroupVersion][]*resource.Info{}
	for _, info := range infos {
		gv := info.GVR.GroupVersion()
		out[gv] = append(out[gv], info)
	}
	return out
}

// groups lists each served group once with its versions, in resource.GroupVersions() order
// (core first, then by name); the first version listed is the preferred one.
func groups(gvs []schema.GroupVersion) []metav1.APIGroup {
	var out []metav1.APIGroup
	index := map[string]int{}
	for _, gv := range gvs {
		i, seen := index[gv.Group]
		if !seen {
			i = len(out)
			index[gv.Group] = i
			out = append(out, metav1.APIGroup{Name: gv.Group})
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		out[i].Versions = append(out[i].Versions, v)
		if !seen {
			out[i].PreferredVersion = v
		}
	}
	return out
}

// --- aggregated discovery (apidiscovery.k8s.io/v2) ---

func aggregatedList(items []apidiscoveryv2.APIGroupDiscovery) *apidiscoveryv2.APIGroupDiscoveryList {
	return &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: apidiscoveryv2.SchemeGroupVersion.String()},
		Items:    items,
	}
}

func aggregatedGroup(group metav1.APIGroup, byGV map[schema.GroupVersion][]*resource.Info) apidiscoveryv2.APIGroupDiscovery {
	out := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group.Name}}
	for _, v := range group.Versions {
		gv := schema.GroupVersion{Group: group.Name, Version: v.Version}
		version := apidiscoveryv2.APIVersionDiscovery{Version: v.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, info := range byGV[gv] {
			version.Resources = append(version.Resources, aggregatedResource(info))
		}
		out.Versions = append(out.Versions, version)
	}
	return out
}

func aggregatedResource(info *resource.Info) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if info.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	out := apidiscoveryv2.APIResourceDiscovery{
		Resource:         info.GVR.Resource,
		ResponseKind:     groupVersionKind(info.GVK()),
		Scope:            scope,
		SingularResource: info.Singular,
		Verbs:            resource.Verbs,
		ShortNames:       info.ShortNames,
		Categories:       info.Categories,
	}
	for _, sub := range info.Subresources {
		out.Subresources = append(out.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub.Name,
			ResponseKind: groupVersionKind(subresourceKind(info, sub)),
			Verbs:        sub.Verbs,
		})
	}
	return out
}

func groupVersionKind(gvk schema.GroupVersionKind) *metav1.GroupVersionKind {
	return &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
}

// --- legacy discovery ---

// resourceList is the legacy APIResourceList of one group-version; subresources appear as
// entries named "<resource>/<subresource>".
func resourceList(gv schema.GroupVersion, infos []*resource.Info) *metav1.APIResourceList {
	out := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList"}, GroupVersion: gv.String(),
		APIResources: []metav1.APIResource{}}
	// kube-apiserver leaves apiVersion out of the core group's list (but not of the others').
	if gv.Group != "" {
		out.APIVersion = "v1"
	}
	for _, info := range infos {
		out.APIResources = append(out.APIResources, metav1.APIResource{
			Name: info.GVR.Resource, SingularName: info.Singular, Namespaced: info.Namespaced, Kind: info.Kind,
			Verbs: resource.Verbs, ShortNames: info.ShortNames, Categories: info.Categories,
		})
		for _, sub := range info.Subresources {
			out.APIResources = append(out.APIResources, legacySubresource(info, sub))
		}
	}
	return out
}

func legacySubresource(info *resource.Info, sub resource.Subresource) metav1.APIResource {
	gvk := subresourceKind(info, sub)
	out := metav1.APIResource{Name: info.GVR.Resource + "/" + sub.Name, Namespaced: info.Namespaced, Kind: gvk.Kind, Verbs: sub.Verbs}
	// Group and version are set only when the subresource speaks another group-version (scale).
	if gvk.GroupVersion() != info.GVR.GroupVersion() {
		out.Group, out.Version = gvk.Group, gvk.Version
	}
	return out
}

func apiVersions(core []string, addresses []metav1.ServerAddressByClientCIDR) *metav1.APIVersions {
	return &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: core, ServerAddressByClientCIDRs: addresses}
}

func apiGroupList(named []metav1.APIGroup, addresses []metav1.ServerAddressByClientCIDR) *metav1.APIGroupList {
	out := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	for _, g := range named {
		g.ServerAddressByClientCIDRs = addresses
		out.Groups = append(out.Groups, g)
	}
	return out
}

func apiGroup(g metav1.APIGroup) *metav1.APIGroup {
	g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
	return &g
}
