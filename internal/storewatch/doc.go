// Package storewatch owns the list-then-watch loop that every in-process reader of the store
// runs (the workload and service controllers, the proxy): open a watch at the store's current
// resourceVersion, let the handler read everything afresh, forward the watch's events, and start
// over the same way when the watch ends (cut off as too slow, history expired, store closed) or
// an attempt fails, backing off while failures repeat, until the context ends. Opening the watch
// before the resync means no change between the two is missed; one seen by both is applied
// twice, which every handler tolerates (its syncs read fresh state).
package storewatch
