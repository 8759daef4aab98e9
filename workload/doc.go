// Package workload owns the in-process Deployment and ReplicaSet controllers: they watch the
// store, keep each ReplicaSet's pods at spec.replicas and roll each Deployment's ReplicaSets from
// one pod template to the next, with kube-controller-manager's semantics (names, hashes,
// annotations, status fields, condition reasons and messages), so that kubectl's rollout and scale
// commands behave as they do against a real cluster. Every write goes through the registry, so
// defaulting, validation, generation and resourceVersions apply as to any client's write.
package workload
