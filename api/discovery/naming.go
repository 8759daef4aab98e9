package discovery

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// gvPath is the URL path of a group-version below the server root, without the leading slash:
// "api/v1" for the core group, "apis/<group>/<version>" otherwise. The OpenAPI v3 index is keyed by it.
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// operationGroup is the group as it appears in upstream operation IDs: "Core" for the core group,
// and otherwise the group without its ".k8s.io" suffix, each dot-separated word capitalised
// ("networking.k8s.io" -> "Networking", "rbac.authorization.k8s.io" -> "RbacAuthorization").
func operationGroup(group string) string {
	if group == "" {
		return "Core"
	}
	var b strings.Builder
	for _, word := range strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".") {
		b.WriteString(capitalize(word))
	}
	return b.String()
}

// operationPrefix is the group-version part of upstream operation IDs, e.g. "CoreV1", "AppsV1".
func operationPrefix(gv schema.GroupVersion) string {
	return operationGroup(gv.Group) + capitalize(gv.Version)
}

// tag is the upstream OpenAPI tag of a group-version: "core_v1", "networking_v1",
// "rbacAuthorization_v1" (the operation group with its first letter lowered).
func tag(gv schema.GroupVersion) string {
	group := operationGroup(gv.Group)
	return strings.ToLower(group[:1]) + group[1:] + "_" + gv.Version
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// schemaName turns a Go package path and type name into the upstream OpenAPI definition name:
// the first path element's domain is reversed ("k8s.io" -> "io.k8s") and slashes become dots, so
// k8s.io/api/core/v1.Service becomes "io.k8s.api.core.v1.Service".
func schemaName(pkgPath, typeName string) string {
	elems := strings.Split(pkgPath, "/")
	domain := strings.Split(elems[0], ".")
	for i, j := 0, len(domain)-1; i < j; i, j = i+1, j-1 {
		domain[i], domain[j] = domain[j], domain[i]
	}
	elems[0] = strings.Join(domain, ".")
	return strings.Join(elems, ".") + "." + typeName
}

// schemaRef is the JSON reference to a component schema.
func schemaRef(name string) string { return "#/components/schemas/" + name }
