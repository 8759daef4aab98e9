// Package version holds podnet's version, set at build time with
// -ldflags "-X github.com/podnet/podnet/version.Version=...".
package version

// Version is podnet's own version.
var Version = "dev"

// KubernetesVersion is the Kubernetes API version podnet serves (the k8s.io/api it is built on).
const KubernetesVersion = "v1.32.11"
