// Package node is podnet's kubelet. Today it owns the Node object: it registers this host with
// its addresses, capacity and system information, and keeps the Ready condition's heartbeat
// fresh. Pod workers join it when the runtime lands.
package node
