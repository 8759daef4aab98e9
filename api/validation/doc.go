// Package validation owns Kubernetes' validation rules for the objects podnet serves.
//
// It checks versioned objects (corev1.Service, appsv1.Deployment, ...) with the
// rules, field paths and messages of kube-apiserver (pkg/apis/*/validation and the
// registry strategies), because those messages are what kubectl users read:
// `The Service "x" is invalid: spec.ports[0].port: Invalid value: 70000: ...`.
// Objects are expected to be defaulted (package defaults) before validation, as
// upstream does; podnet-specific admission (allocation, quotas) lives elsewhere.
package validation
