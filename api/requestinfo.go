package api

import (
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/resource"
)

// requestInfo is what a resource path and method say about a request.
type requestInfo struct {
	info        *resource.Info
	namespace   string
	name        string
	subresource string
	verb        string // get list watch create update patch delete deletecollection
}

// parseRequest understands /api/v1/... and /apis/<group>/<version>/... resource paths:
//
//	<prefix>/<resource>[/<name>[/<subresource>]]
//	<prefix>/namespaces/<ns>/<resource>[/<name>[/<subresource>]]
//
// where namespaces/<name>[/status] is the Namespace object itself.
func parseRequest(r *http.Request) (*requestInfo, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var gv schema.GroupVersion
	switch {
	case len(parts) >= 3 && parts[0] == "api" && parts[1] == "v1":
		gv, parts = schema.GroupVersion{Version: "v1"}, parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		gv, parts = schema.GroupVersion{Group: parts[1], Version: parts[2]}, parts[3:]
	default:
		return nil, apierrors.NewNotFound(schema.GroupResource{}, "")
	}
	ri := &requestInfo{}
	// namespaces/<ns>/<x> is a resource in that namespace, except for the Namespace's own
	// subresources (namespaces/<name>/status).
	if len(parts) >= 3 && parts[0] == "namespaces" && !(len(parts) == 3 && gv.Group == "" && isNamespaceSubresource(parts[2])) {
		ri.namespace, parts = parts[1], parts[2:]
	}
	if len(parts) > 3 {
		return nil, apierrors.NewNotFound(schema.GroupResource{}, "")
	}
	res := parts[0]
	if len(parts) > 1 {
		ri.name = parts[1]
	}
	if len(parts) > 2 {
		ri.subresource = parts[2]
	}
	info, ok := resource.Lookup(gv.WithResource(res))
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: gv.Group, Resource: res}, ri.name)
	}
	ri.info = info
	if !info.Namespaced && ri.namespace != "" {
		return nil, apierrors.NewNotFound(info.GroupResource(), ri.name)
	}
	if ri.subresource != "" {
		if _, ok := info.Subresource(ri.subresource); !ok {
			return nil, apierrors.NewNotFound(schema.GroupResource{Group: gv.Group, Resource: res + "/" + ri.subresource}, ri.name)
		}
	}
	ri.verb = verbFor(r, ri.name != "")
	if ri.verb == "" && r.Method == http.MethodPost && subresourceAllows(info, ri.subresource, "create") {
		// exec and attach: SPDY clients POST to the object's subresource.
		ri.verb = "create"
	}
	if ri.verb == "" {
		return nil, apierrors.NewMethodNotSupported(info.GroupResource(), r.Method)
	}
	return ri, nil
}

func verbFor(r *http.Request, named bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
			return "watch" // on an item path, a watch of that one object
		}
		if named {
			return "get"
		}
		return "list"
	case http.MethodPost:
		if !named {
			return "create"
		}
	case http.MethodPut:
		if named {
			return "update"
		}
	case http.MethodPatch:
		if named {
			return "patch"
		}
	case http.MethodDelete:
		if named {
			return "delete"
		}
		return "deletecollection"
	}
	return ""
}

func isNamespaceSubresource(name string) bool {
	_, ok := resource.Namespaces.Subresource(name)
	return ok
}

func subresourceAllows(info *resource.Info, subresource, verb string) bool {
	sub, ok := info.Subresource(subresource)
	return ok && slices.Contains(sub.Verbs, verb)
}
