// Package discovery serves the documents clients read to learn what the API offers: aggregated
// discovery (apidiscovery.k8s.io/v2) and legacy discovery under /api and /apis, and the OpenAPI v3
// index and per-group-version documents under /openapi/v3. Everything is derived from the resource
// catalogue (api/resource) once, at construction, and served from memory with ETags, because
// kubectl fetches these documents on nearly every invocation.
package discovery
