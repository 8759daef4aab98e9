// Package workqueue owns the keyed work queue the in-process controllers (workload/,
// services/endpoints, services/loadbalancer) share: a key queued many times while waiting is
// synced once, a key is never synced by two workers at once, and failed syncs come back with
// exponential back-off. RunWorkers and Every are the scaffolding around it that every
// controller had written for itself: the workers draining a queue and the periodic resync.
package workqueue
