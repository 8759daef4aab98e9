// Package deps pins modules that packages under construction will import, so that go.mod and
// go.sum hold them while several people write those packages at once. Remove it once they do.
package deps

import (
	_ "github.com/creack/pty"
	_ "github.com/google/go-containerregistry/pkg/authn"
	_ "github.com/google/go-containerregistry/pkg/name"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/empty"
	_ "github.com/google/go-containerregistry/pkg/v1/layout"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/google/go-containerregistry/pkg/v1/random"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "golang.org/x/net/bpf"
	_ "golang.org/x/net/websocket"
	_ "k8s.io/apimachinery/pkg/util/httpstream/spdy"
	_ "k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	_ "k8s.io/apimachinery/pkg/util/remotecommand"
	_ "k8s.io/client-go/tools/remotecommand"
)
