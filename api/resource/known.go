package resource

// The resources podnet's own code names directly.
var (
	Namespaces     = mustLookup("", "namespaces")
	Pods           = mustLookup("", "pods")
	Services       = mustLookup("", "services")
	Endpoints      = mustLookup("", "endpoints")
	Events         = mustLookup("", "events")
	Secrets        = mustLookup("", "secrets")
	ConfigMaps     = mustLookup("", "configmaps")
	Nodes          = mustLookup("", "nodes")
	EndpointSlices = mustLookup("discovery.k8s.io", "endpointslices")
	Deployments    = mustLookup("apps", "deployments")
	ReplicaSets    = mustLookup("apps", "replicasets")
	Ingresses      = mustLookup("networking.k8s.io", "ingresses")
	IngressClasses = mustLookup("networking.k8s.io", "ingressclasses")
)

func mustLookup(group, res string) *Info {
	for _, i := range all {
		if i.GVR.Group == group && i.GVR.Resource == res {
			return i
		}
	}
	panic("resource: unknown " + group + "/" + res)
}
