package main

// Temporary: pins the modules the packages being written need; removed once they import them.
import (
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sys/unix"
	_ "github.com/vishvananda/netlink"
	_ "gopkg.in/evanphx/json-patch.v4"
	_ "k8s.io/api/apidiscovery/v2"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/component-base/cli"
	_ "k8s.io/kube-openapi/pkg/spec3"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "sigs.k8s.io/json"
	_ "sigs.k8s.io/yaml"
)
