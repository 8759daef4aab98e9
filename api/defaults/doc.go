// Package defaults owns Kubernetes' defaulting for the objects podnet serves.
//
// It mirrors what kube-apiserver's versioned defaulters (pkg/apis/*/v1/defaults.go)
// do to a freshly decoded object, so that an object stored by podnet looks exactly
// like one stored by a real cluster. Values that are allocated rather than defaulted
// (clusterIP, nodePorts, ipFamilies) belong to the service allocators, not here.
package defaults
