package discovery

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/handler3"

	"github.com/podnet/podnet/api/resource"
)

// ContentTypeAggregated is the media type of aggregated discovery, both what clients put in
// Accept and what the response's Content-Type must be for client-go to read it as such.
const ContentTypeAggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

const contentTypeJSON = "application/json"

// document is a response body computed at construction, with its hash for ETags.
type document struct {
	body []byte
	hash string
}

func newDocument(v any) (document, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return document{}, fmt.Errorf("encode %T: %w", v, err)
	}
	return document{body: body, hash: fmt.Sprintf("%X", sha512.Sum512(body))}, nil
}

// handler serves the documents; see NewHandler.
type handler struct {
	aggregated   map[string]document // "/api" and "/apis"
	legacy       map[string]document // "/api/v1", "/apis/<group>", "/apis/<group>/<version>"
	coreVersions []string            // for the legacy /api answer
	namedGroups  []metav1.APIGroup   // for the legacy /apis answer
	openapiIndex document
	openapiDocs  map[string]document // keyed by gvPath: "api/v1", "apis/apps/v1"
}

// NewHandler returns the handler of discovery and OpenAPI documents for the resources in
// resource.All(). It serves, for GET and HEAD:
//
//	/api, /apis                  aggregated discovery when Accept asks for ContentTypeAggregated,
//	                             otherwise legacy APIVersions and APIGroupList
//	/api/v1, /apis/<g>/<v>       legacy APIResourceList
//	/apis/<g>                    legacy APIGroup
//	/openapi/v3                  the OpenAPI v3 index
//	/openapi/v3/<api/v1|apis/<g>/<v>>  one group-version's OpenAPI v3 document
//
// and 404 for anything else, /openapi/v2 included: podnet speaks no protobuf, and kubectl uses v3.
func NewHandler() (http.Handler, error) {
	infos := resource.All()
	byGV := byGroupVersion(infos)
	gvs := resource.GroupVersions()
	h := &handler{aggregated: map[string]document{}, legacy: map[string]document{}, openapiDocs: map[string]document{}}
	if err := h.buildDiscovery(gvs, byGV); err != nil {
		return nil, fmt.Errorf("discovery documents: %w", err)
	}
	if err := h.buildOpenAPI(gvs, byGV); err != nil {
		return nil, fmt.Errorf("openapi documents: %w", err)
	}
	return h, nil
}

func (h *handler) buildDiscovery(gvs []schema.GroupVersion, byGV map[schema.GroupVersion][]*resource.Info) error {
	var core, named []apidiscoveryv2.APIGroupDiscovery
	for _, g := range groups(gvs) {
		if g.Name == "" {
			core = append(core, aggregatedGroup(g, byGV))
			for _, v := range g.Versions {
				h.coreVersions = append(h.coreVersions, v.Version)
			}
			continue
		}
		named = append(named, aggregatedGroup(g, byGV))
		h.namedGroups = append(h.namedGroups, g)
		if err := h.addLegacy("/apis/"+g.Name, apiGroup(g)); err != nil {
			return err
		}
	}
	for _, gv := range gvs {
		if err := h.addLegacy("/"+gvPath(gv), resourceList(gv, byGV[gv])); err != nil {
			return err
		}
	}
	var err error
	if h.aggregated["/api"], err = newDocument(aggregatedList(core)); err != nil {
		return err
	}
	h.aggregated["/apis"], err = newDocument(aggregatedList(named))
	return err
}

func (h *handler) addLegacy(path string, v any) error {
	doc, err := newDocument(v)
	if err != nil {
		return err
	}
	h.legacy[path] = doc
	return nil
}

func (h *handler) buildOpenAPI(gvs []schema.GroupVersion, byGV map[schema.GroupVersion][]*resource.Info) error {
	index := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	for _, gv := range gvs {
		spec, err := buildDocument(gv, byGV[gv])
		if err != nil {
			return err
		}
		doc, err := newDocument(spec)
		if err != nil {
			return err
		}
		key := gvPath(gv)
		h.openapiDocs[key] = doc
		index.Paths[key] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: openapiURL(key, doc.hash)}
	}
	var err error
	h.openapiIndex, err = newDocument(index)
	return err
}

// openapiURL is the address of a group-version document; the hash makes it immutable, so clients
// may cache it for good.
func openapiURL(key, hash string) string { return "/openapi/v3/" + key + "?hash=" + hash }

// Routes lists the paths the handler owns, as net/http.ServeMux patterns: exact paths, and the
// subtree "/openapi/" (a pattern ending in a slash).
func Routes() []string {
	routes := []string{"/api", "/apis", "/openapi/"}
	seen := map[string]bool{}
	for _, gv := range resource.GroupVersions() {
		if gv.Group != "" && !seen[gv.Group] {
			seen[gv.Group] = true
			routes = append(routes, "/apis/"+gv.Group)
		}
		routes = append(routes, "/"+gvPath(gv))
	}
	return routes
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			"the server does not allow this method on the requested resource")
		return
	}
	switch p := r.URL.Path; {
	case p == "/api" || p == "/apis":
		h.serveRoot(w, r)
	case p == "/openapi/v3":
		w.Header().Set("Content-Type", contentTypeJSON)
		serveDocument(w, r, h.openapiIndex)
	case strings.HasPrefix(p, "/openapi/v3/"):
		h.serveOpenAPI(w, r, strings.TrimPrefix(p, "/openapi/v3/"))
	default:
		doc, ok := h.legacy[p]
		if !ok {
			writeNotFound(w)
			return
		}
		w.Header().Set("Content-Type", contentTypeJSON)
		w.Write(doc.body)
	}
}

// serveRoot answers /api and /apis in the form the Accept header prefers.
func (h *handler) serveRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept")
	if wantsAggregated(r.Header.Get("Accept")) {
		w.Header().Set("Content-Type", ContentTypeAggregated)
		w.Header().Set("Cache-Control", "public")
		serveDocument(w, r, h.aggregated[r.URL.Path])
		return
	}
	addresses := serverAddresses(r)
	var v any = apiGroupList(h.namedGroups, addresses)
	if r.URL.Path == "/api" {
		v = apiVersions(h.coreVersions, addresses)
	}
	doc, err := newDocument(v)
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Write(doc.body)
}

// wantsAggregated reports whether the first media range in accept that podnet can serve is
// aggregated discovery v2 (rather than plain JSON, or a form podnet does not speak).
func wantsAggregated(accept string) bool {
	for _, clause := range strings.Split(accept, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		if mediaType == contentTypeJSON && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if _, asOther := params["as"]; !asOther && servesJSON(mediaType) {
			return false
		}
	}
	return false
}

func servesJSON(mediaType string) bool {
	return mediaType == contentTypeJSON || mediaType == "application/*" || mediaType == "*/*"
}

// serverAddresses tells clients how to reach this server, from the address they used.
func serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := "80"
		if r.TLS != nil {
			port = "443"
		}
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}
}

// serveOpenAPI answers /openapi/v3/<key>, with upstream's caching: a request carrying the current
// hash gets an immutable response, a stale hash a redirect to the current one.
func (h *handler) serveOpenAPI(w http.ResponseWriter, r *http.Request, key string) {
	doc, ok := h.openapiDocs[key]
	if !ok {
		writeNotFound(w)
		return
	}
	w.Header().Add("Vary", "Accept")
	if !acceptsJSON(r.Header.Get("Accept")) {
		writeStatus(w, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
			"only the following media types are accepted: application/json")
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.hash {
			http.Redirect(w, r, openapiURL(key, doc.hash), http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	serveDocument(w, r, doc)
}

func acceptsJSON(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, clause := range strings.Split(accept, ",") {
		if mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(clause)); err == nil && servesJSON(mediaType) {
			return true
		}
	}
	return false
}

// serveDocument writes doc with its ETag, answering 304 to a matching If-None-Match.
func serveDocument(w http.ResponseWriter, r *http.Request, doc document) {
	w.Header().Set("Etag", strconv.Quote(doc.hash))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(doc.body))
}

func writeNotFound(w http.ResponseWriter) {
	writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	body, _ := json.Marshal(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: message, Reason: reason, Details: &metav1.StatusDetails{}, Code: int32(code),
	})
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(code)
	w.Write(body)
}
