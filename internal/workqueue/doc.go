// Package workqueue owns the keyed work queue the in-process controllers (workload/,
// services/endpoints) share: a key queued many times while waiting is synced once, a key is
// never synced by two workers at once, and failed syncs come back with exponential back-off.
package workqueue
