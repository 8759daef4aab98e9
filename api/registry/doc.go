// Package registry gives the store Kubernetes' write semantics: object metadata on create (uid,
// creationTimestamp, generateName, generation), defaulting and validation, the split between a
// resource and its status subresource, resourceVersion preconditions, finalizers and
// deletionTimestamp, per-resource admission hooks (such as Service IP and port allocation),
// namespace lifecycle and garbage collection through ownerReferences.
//
// The HTTP handlers and podnet's in-process controllers both write through a Registry, so an
// object written by the kubelet gets the same checks as one written by kubectl.
package registry
