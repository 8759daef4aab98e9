package node

import (
	"os"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
)

func hooksFor(s Scheduler) map[schema.GroupVersionResource]registry.Hook {
	return map[schema.GroupVersionResource]registry.Hook{apiresource.Pods.GVR: s}
}

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
