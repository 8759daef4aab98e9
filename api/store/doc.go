// Package store keeps podnet's API objects in bbolt, one key per object, and fans out changes to
// watchers.
//
// Every write runs in one bbolt transaction that also bumps a single global resourceVersion, so
// resourceVersions only grow, also across restarts, and every acknowledged write is on disk (bbolt
// fsyncs on commit). Watchers get events from an in-memory history of the most recent writes: a
// watch from a resourceVersion older than that history answers 410 Gone, as kube-apiserver does
// when its watch cache has moved on, and the client relists. A watcher that does not keep up is cut
// off rather than allowed to stall writers.
package store
