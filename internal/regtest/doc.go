// Package regtest owns the test fixture the controllers' and the proxy's tests share: a real
// registry over a bbolt store in the test's temporary directory, wired as podnet serve wires it
// (services/allocator's admission on Services when asked), with namespace "default" created.
// It is for tests only; nothing outside _test.go files imports it.
package regtest
