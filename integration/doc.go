// Package integration holds podnet's end-to-end tests: each starts the real bin/podnet in network
// namespaces of its own through the harness and drives it with the real kubectl (the system's and
// `podnet kubectl`) and client-go. They need root; `make test` runs them.
package integration
