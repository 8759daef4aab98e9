// Package resource is podnet's catalogue of API resources: for each one its group, version, names,
// kind, scope, subresources and Go types, plus the field selectors it supports. Discovery, OpenAPI,
// routing and the store all read this one table, so adding a resource is one entry here.
package resource
