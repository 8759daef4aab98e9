// Package api serves podnet's Kubernetes-compatible REST API: routing of Kubernetes' resource paths,
// the verbs (get, list, watch, create, update, patch, delete, deletecollection), admission
// (metadata, defaulting, validation, allocation hooks), Table output, Status errors and bearer-token
// authentication. Objects live in api/store; discovery and OpenAPI in api/discovery; credentials in
// api/pki.
package api
