// Package endpoints owns the EndpointSlice controller (discovery.k8s.io/v1) and the legacy
// Endpoints controller: for every Service with a selector they turn the matching pods' IPs,
// readiness and resolved target ports into the slices and the Endpoints object that the
// proxy and DNS read, with kube-controller-manager's semantics (labels, packing, conditions).
//
// Each controller is a pure function from (Service, Pods, what exists) to the objects wanted,
// and a thin apply step writing through the registry; Run drives both from one store watch.
// Services without a selector (the bootstrap `kubernetes` service among them) keep whatever
// slices and Endpoints users wrote.
package endpoints
