package discovery

import (
	"fmt"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/version"
)

// Request bodies a PATCH accepts. application/strategic-merge-patch+json is deliberately absent
// although the server applies such patches: when kubectl sees it here it computes apply patches
// from the OpenAPI schemas instead of its compiled-in types, and these reflected schemas lack
// some of upstream's markers (list map keys, list types).
var patchContentTypes = []string{"application/json-patch+json", "application/merge-patch+json"}

// gvDoc assembles the OpenAPI v3 document of one group-version.
type gvDoc struct {
	gv      schema.GroupVersion
	paths   map[string]*spec3.Path
	schemas *schemaSet
	// gvks are stamped on component schemas as x-kubernetes-group-version-kind, which is how
	// kubectl explain finds a kind's schema.
	gvks map[string]schema.GroupVersionKind
	meta metaSchemas
}

// metaSchemas are the component names of the meta/v1 types operations refer to.
type metaSchemas struct{ status, deleteOptions, patch, watchEvent string }

// buildDocument returns the OpenAPI v3 document of gv, covering the given resources.
func buildDocument(gv schema.GroupVersion, infos []*resource.Info) (*spec3.OpenAPI, error) {
	d := &gvDoc{gv: gv, paths: map[string]*spec3.Path{}, schemas: newSchemaSet(), gvks: map[string]schema.GroupVersionKind{}}
	if err := d.addMetaSchemas(); err != nil {
		return nil, err
	}
	for _, info := range infos {
		if err := d.addResource(info); err != nil {
			return nil, fmt.Errorf("openapi for %s: %w", info.GVR, err)
		}
	}
	return d.document(), nil
}

func (d *gvDoc) addMetaSchemas() error {
	var err error
	add := func(obj any) string {
		name, addErr := d.schemas.add(reflect.TypeOf(obj))
		if addErr != nil && err == nil {
			err = addErr
		}
		return name
	}
	d.meta = metaSchemas{
		status:        add(metav1.Status{}),
		deleteOptions: add(metav1.DeleteOptions{}),
		patch:         add(metav1.Patch{}),
		watchEvent:    add(metav1.WatchEvent{}),
	}
	d.gvks[d.meta.status] = metav1.SchemeGroupVersion.WithKind("Status")
	d.gvks[d.meta.deleteOptions] = d.gv.WithKind("DeleteOptions")
	d.gvks[d.meta.watchEvent] = d.gv.WithKind("WatchEvent")
	return err
}

func (d *gvDoc) document() *spec3.OpenAPI {
	for name, gvk := range d.gvks {
		d.schemas.schemas[name].AddExtension("x-kubernetes-group-version-kind",
			[]any{map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}})
	}
	return &spec3.OpenAPI{
		Version: "3.0.0",
		Info:    &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version.KubernetesVersion}},
		Paths:   &spec3.Paths{Paths: d.paths},
		Components: &spec3.Components{
			Schemas: d.schemas.schemas,
			SecuritySchemes: spec3.SecuritySchemes{"BearerToken": &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
				Type: "apiKey", Description: "Bearer Token authentication", Name: "authorization", In: "header",
			}}},
		},
		SecurityRequirement: []map[string][]string{{"BearerToken": {}}},
	}
}

// kindSchema registers the Go type of obj under its GVK and returns its component name.
func (d *gvDoc) kindSchema(obj runtime.Object, gvk schema.GroupVersionKind) (string, error) {
	name, err := d.schemas.add(reflect.TypeOf(obj).Elem())
	if err != nil {
		return "", err
	}
	d.gvks[name] = gvk
	return name, nil
}

// resourceNames carries what the paths and operation IDs of one resource are built from.
type resourceNames struct {
	info       *resource.Info
	prefix     string // "CoreV1"
	scope      string // "Namespaced" or ""
	base       string // "/api/v1"
	collection string // "/api/v1/namespaces/{namespace}/services"
	kind, list string // component schema names
}

func (d *gvDoc) addResource(info *resource.Info) error {
	n := resourceNames{info: info, prefix: operationPrefix(d.gv), base: "/" + gvPath(d.gv)}
	n.collection = n.base + "/" + info.GVR.Resource
	if info.Namespaced {
		n.scope = "Namespaced"
		n.collection = n.base + "/namespaces/{namespace}/" + info.GVR.Resource
	}
	var err error
	if n.kind, err = d.kindSchema(info.New(), info.GVK()); err != nil {
		return err
	}
	if n.list, err = d.kindSchema(info.NewList(), d.gv.WithKind(info.ListKind)); err != nil {
		return err
	}
	d.addCollection(n)
	d.addItem(n)
	d.addWatches(n)
	for _, sub := range info.Subresources {
		if err := d.addSubresource(n, sub); err != nil {
			return fmt.Errorf("subresource %s: %w", sub.Name, err)
		}
	}
	return nil
}

// supports reports whether the catalogue grants verb; every podnet resource shares resource.Verbs.
func supports(verb string) bool { return slices.Contains(resource.Verbs, verb) }

// addCollection adds list, create and deletecollection on the collection path, and for
// namespaced resources the list across all namespaces.
func (d *gvDoc) addCollection(n resourceNames) {
	gvk, k := n.info.GVK(), n.info.Kind
	p := newPath(pathParams(k, false, n.info.Namespaced))
	if supports("list") {
		p.Get = d.operation(op{id: "list" + n.prefix + n.scope + k, action: "list", gvk: gvk, description: "list or watch objects of kind " + k,
			params: listParams, responses: listResponses(n.list)})
	}
	if supports("create") {
		p.Post = d.operation(op{id: "create" + n.prefix + n.scope + k, action: "post", gvk: gvk, description: "create " + article(k),
			params: writeParams, body: objectBody(n.kind), responses: objectResponses(n.kind, 200, 201, 202)})
	}
	if supports("deletecollection") {
		p.Delete = d.operation(op{id: "delete" + n.prefix + "Collection" + n.scope + k, action: "deletecollection", gvk: gvk,
			description: "delete collection of " + k, params: deleteCollectionParams, body: objectBody(d.meta.deleteOptions),
			responses: objectResponses(d.meta.status, 200)})
	}
	d.paths[n.collection] = p
	if n.info.Namespaced && supports("list") {
		all := newPath(query([]string{"pretty"}))
		all.Get = d.operation(op{id: "list" + n.prefix + k + "ForAllNamespaces", action: "list", gvk: gvk,
			description: "list or watch objects of kind " + k, params: listParams, responses: listResponses(n.list)})
		d.paths[n.base+"/"+n.info.GVR.Resource] = all
	}
}

// addItem adds read, replace, patch and delete on the object's path.
func (d *gvDoc) addItem(n resourceNames) {
	gvk, k := n.info.GVK(), n.info.Kind
	p := newPath(pathParams(k, true, n.info.Namespaced))
	if supports("get") {
		p.Get = d.operation(op{id: "read" + n.prefix + n.scope + k, action: "get", gvk: gvk, description: "read the specified " + k,
			responses: objectResponses(n.kind, 200)})
	}
	if supports("update") {
		p.Put = d.operation(op{id: "replace" + n.prefix + n.scope + k, action: "put", gvk: gvk, description: "replace the specified " + k,
			params: writeParams, body: objectBody(n.kind), responses: objectResponses(n.kind, 200, 201)})
	}
	if supports("patch") {
		p.Patch = d.operation(op{id: "patch" + n.prefix + n.scope + k, action: "patch", gvk: gvk, description: "partially update the specified " + k,
			params: patchParams, body: d.patchBody(), responses: objectResponses(n.kind, 200, 201)})
	}
	if supports("delete") {
		p.Delete = d.operation(op{id: "delete" + n.prefix + n.scope + k, action: "delete", gvk: gvk, description: "delete " + article(k),
			params: deleteParams, body: objectBody(d.meta.deleteOptions), responses: objectResponses(n.kind, 200, 202)})
	}
	d.paths[n.collection+"/{name}"] = p
}

// addWatches adds the deprecated /watch/ paths upstream still documents.
func (d *gvDoc) addWatches(n resourceNames) {
	if !supports("watch") {
		return
	}
	gvk, k, res := n.info.GVK(), n.info.Kind, n.info.GVR.Resource
	scoped := n.base + "/watch/" + res
	if n.info.Namespaced {
		scoped = n.base + "/watch/namespaces/{namespace}/" + res
		all := newPath(append(query([]string{"pretty"}), query(listParams)...))
		all.Get = d.operation(op{id: "watch" + n.prefix + k + "ListForAllNamespaces", action: "watchlist", gvk: gvk,
			description: "watch individual changes to a list of " + k, responses: watchResponses(d.meta.watchEvent)})
		d.paths[n.base+"/watch/"+res] = all
	}
	list := newPath(append(pathParams(k, false, n.info.Namespaced), query(listParams)...))
	list.Get = d.operation(op{id: "watch" + n.prefix + n.scope + k + "List", action: "watchlist", gvk: gvk,
		description: "watch individual changes to a list of " + k, responses: watchResponses(d.meta.watchEvent)})
	d.paths[scoped] = list
	item := newPath(append(pathParams(k, true, n.info.Namespaced), query(listParams)...))
	item.Get = d.operation(op{id: "watch" + n.prefix + n.scope + k, action: "watch", gvk: gvk,
		description: "watch changes to an object of kind " + k, responses: watchResponses(d.meta.watchEvent)})
	d.paths[scoped+"/{name}"] = item
}

// addSubresource documents pods/status-like subresources (get, update, patch of a whole object),
// pods/log (a text stream) and the connect subresources exec and attach.
func (d *gvDoc) addSubresource(n resourceNames, sub resource.Subresource) error {
	gvk := subresourceKind(n.info, sub)
	suffix := capitalize(sub.Name)
	p := newPath(pathParams(n.info.Kind, true, n.info.Namespaced))
	d.paths[n.collection+"/{name}/"+sub.Name] = p
	if !sub.GVK.Empty() {
		return d.addObjectSubresource(n, sub, gvk, suffix, p)
	}
	if slices.Contains(sub.Verbs, "create") {
		d.addConnect(n, sub, gvk, suffix, p)
		return nil
	}
	if slices.Contains(sub.Verbs, "get") {
		p.Get = d.operation(op{id: "read" + n.prefix + n.scope + n.info.Kind + suffix, action: "get", gvk: gvk,
			description: "read " + sub.Name + " of the specified " + n.info.Kind, params: subresourceParams(sub.Name),
			responses: textResponses()})
	}
	return nil
}

func (d *gvDoc) addObjectSubresource(n resourceNames, sub resource.Subresource, gvk schema.GroupVersionKind, suffix string, p *spec3.Path) error {
	name := n.kind
	if gvk != n.info.GVK() {
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			return fmt.Errorf("no Go type for %s: %w", gvk, err)
		}
		if name, err = d.kindSchema(obj, gvk); err != nil {
			return err
		}
	}
	what := sub.Name + " of the specified " + n.info.Kind
	for _, verb := range sub.Verbs {
		switch verb {
		case "get":
			p.Get = d.operation(op{id: "read" + n.prefix + n.scope + n.info.Kind + suffix, action: "get", gvk: gvk,
				description: "read " + what, responses: objectResponses(name, 200)})
		case "update":
			p.Put = d.operation(op{id: "replace" + n.prefix + n.scope + n.info.Kind + suffix, action: "put", gvk: gvk,
				description: "replace " + what, params: writeParams, body: objectBody(name), responses: objectResponses(name, 200, 201)})
		case "patch":
			p.Patch = d.operation(op{id: "patch" + n.prefix + n.scope + n.info.Kind + suffix, action: "patch", gvk: gvk,
				description: "partially update " + what, params: patchParams, body: d.patchBody(), responses: objectResponses(name, 200, 201)})
		}
	}
	return nil
}

// addConnect documents exec-like subresources, which upstream names connect<Prefix><Method>...
func (d *gvDoc) addConnect(n resourceNames, sub resource.Subresource, gvk schema.GroupVersionKind, suffix string, p *spec3.Path) {
	params := subresourceParams(sub.Name)
	connect := func(method string) *spec3.Operation {
		return d.operation(op{id: "connect" + n.prefix + method + n.scope + n.info.Kind + suffix, action: "connect", gvk: gvk,
			description: "connect " + method + " requests to " + sub.Name + " of " + n.info.Kind, params: params, responses: textResponses()})
	}
	for _, verb := range sub.Verbs {
		switch verb {
		case "get":
			p.Get = connect("Get")
		case "create":
			p.Post = connect("Post")
		}
	}
}

func subresourceParams(name string) []string {
	switch name {
	case "log":
		return logParams
	case "exec":
		return execParams
	case "attach":
		return attachParams
	}
	return nil
}

// op is what differs between operations.
type op struct {
	id, action, description string
	gvk                     schema.GroupVersionKind
	params                  []string
	body                    *spec3.RequestBody
	responses               *spec3.Responses
}

func (d *gvDoc) operation(o op) *spec3.Operation {
	out := &spec3.Operation{OperationProps: spec3.OperationProps{
		Tags: []string{tag(d.gv)}, Description: o.description, OperationId: o.id,
		Parameters: query(o.params), RequestBody: o.body, Responses: o.responses,
	}}
	out.AddExtension("x-kubernetes-action", o.action)
	out.AddExtension("x-kubernetes-group-version-kind", map[string]any{"group": o.gvk.Group, "version": o.gvk.Version, "kind": o.gvk.Kind})
	return out
}

func newPath(params []*spec3.Parameter) *spec3.Path {
	return &spec3.Path{PathProps: spec3.PathProps{Parameters: params}}
}

func refSchema(name string) *spec.Schema {
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(schemaRef(name))}}
}

func content(s *spec.Schema, mediaTypes ...string) map[string]*spec3.MediaType {
	out := map[string]*spec3.MediaType{}
	for _, mt := range mediaTypes {
		out[mt] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: s}}
	}
	return out
}

func objectBody(name string) *spec3.RequestBody {
	return &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{Content: content(refSchema(name), "*/*"), Required: true}}
}

func (d *gvDoc) patchBody() *spec3.RequestBody {
	return &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{Content: content(refSchema(d.meta.patch), patchContentTypes...), Required: true}}
}

var statusText = map[int]string{200: "OK", 201: "Created", 202: "Accepted"}

func responses(byCode map[int]*spec3.Response) *spec3.Responses {
	byCode[401] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}
	return &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: byCode}}
}

func objectResponses(name string, codes ...int) *spec3.Responses {
	byCode := map[int]*spec3.Response{}
	for _, code := range codes {
		byCode[code] = &spec3.Response{ResponseProps: spec3.ResponseProps{
			Description: statusText[code], Content: content(refSchema(name), "application/json", "application/yaml"),
		}}
	}
	return responses(byCode)
}

func listResponses(list string) *spec3.Responses {
	return responses(map[int]*spec3.Response{200: {ResponseProps: spec3.ResponseProps{
		Description: "OK", Content: content(refSchema(list), "application/json", "application/json;stream=watch", "application/yaml"),
	}}})
}

func watchResponses(watchEvent string) *spec3.Responses {
	return responses(map[int]*spec3.Response{200: {ResponseProps: spec3.ResponseProps{
		Description: "OK", Content: content(refSchema(watchEvent), "application/json", "application/json;stream=watch"),
	}}})
}

func textResponses() *spec3.Responses {
	return responses(map[int]*spec3.Response{200: {ResponseProps: spec3.ResponseProps{
		Description: "OK", Content: content(spec.StringProperty(), "*/*"),
	}}})
}

// article prefixes a kind with "a" or "an", as upstream's descriptions do ("create an Ingress").
func article(kind string) string {
	if kind != "" && slices.Contains([]byte("AEIOU"), kind[0]) {
		return "an " + kind
	}
	return "a " + kind
}
