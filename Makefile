# Build, test, run and lint podnet. hack/deps.sh installs whatever these targets need.
#
#   make build   bin/podnet and every other command under cmd/
#   make test    unit tests, then the integration suite (root; about 25 minutes at most)
#   make run     bin/podnet serve $(ARGS) in the foreground
#   make bench   the figures in BENCHMARKS.md
#   make lint    go vet and staticcheck
#   make images  offline container images under build/images
#   make clean   remove bin/ and build/

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# test, run and bench list deps before build before the tests: that order is the point.
.NOTPARALLEL:

# Recursive (=) on purpose: evaluated when a recipe runs, i.e. after deps.sh may have installed Go
# into /usr/local/go, which need not be on PATH.
GO ?= $(shell hack/deps.sh --print-go)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/podnet/podnet/version.Version=$(VERSION)
KUBECTL_LDFLAGS = $(shell hack/deps.sh --print-kubectl-ldflags)
# staticcheck 2026.2.2, the newest release; it needs Go >= 1.26. ST1005 (lower-case error strings)
# is off: podnet's errors repeat Kubernetes' messages word for word, capitals included.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
INTEGRATION_TIMEOUT ?= 25m
ARGS ?=

.PHONY: all deps build test unit integration run bench lint images clean

all: build

deps:
	@hack/deps.sh

# bin/podnet carries kubectl as an executable image of its own (cmd/podnet/kubectl.image, built
# from hack/kubectl) that `podnet kubectl` runs from memory: the daemon then never runs kubectl's
# package initialisers, which would cost it about 40 MB of resident memory (BENCHMARKS.md).
build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(KUBECTL_LDFLAGS)' -o cmd/podnet/kubectl.image ./hack/kubectl
	$(GO) build -trimpath -tags podnet_kubectl_image -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

test: deps build images unit integration

# PODNET_INTEGRATION=1 turns every root test's "skip when not root (or nft, or the reference
# plugins, is missing)" into a failure: under make test a missing prerequisite must be loud. The
# packages' own root tests (cni, netplug, config) follow the same rule as the integration suite.
# Without root, plain `go test ./...` skips them.
unit:
	PODNET_INTEGRATION=1 $(GO) test $$($(GO) list ./... | grep -v '^github.com/podnet/podnet/integration')

integration:
	PODNET_INTEGRATION=1 $(GO) test -count=1 -p 1 -timeout $(INTEGRATION_TIMEOUT) ./integration/...

# A node needs br_netfilter (Service DNAT between pods on one bridge), as kubeadm's prerequisites
# say; netplug reports the node not ready without it rather than loading it itself.
run: deps build
	@modprobe br_netfilter 2>/dev/null || echo "make run: could not load br_netfilter; the node will not be Ready" >&2
	bin/podnet serve $(ARGS)

bench: build
	@hack/deps.sh --bench
	$(GO) run ./integration/bench

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) -checks inherit,-ST1005 ./...

images:
	GO=$(GO) hack/images.sh

clean:
	rm -rf bin build cmd/podnet/kubectl.image
