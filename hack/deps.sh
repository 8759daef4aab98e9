#!/usr/bin/env bash
# deps.sh installs what building and testing podnet needs: Debian packages, a Go toolchain at least
# as new as go.mod asks, a kubectl >= 1.30 and bin/coredns (the DNS peer). It is idempotent and
# prints nothing when everything is already there; it needs root only when it has something to
# install.
#
# Usage:
#   hack/deps.sh              install what is missing
#   hack/deps.sh --print-go   print the go binary to use (the Makefile's GO), install nothing
#   hack/deps.sh --bench      also what make bench needs (etcd and podman, the peers it measures)
#   hack/deps.sh --print-kubectl-ldflags   the version stamp of the kubectl podnet embeds
#
# Environment (all optional):
#   GO_DEST             where a downloaded Go toolchain goes (default /usr/local/go)
#   GO_INSTALL_VERSION  version installed when go is missing or too old (default below; go.mod's
#                       requirement wins when it is newer)
#   GOPROXY_URL         module proxy serving golang.org/toolchain (default https://proxy.golang.org)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build and the integration tests need. Later issues append theirs here.
DEB_PACKAGES="iproute2 nftables util-linux ca-certificates curl git make gcc unzip containernetworking-plugins runc busybox-static bind9-dnsutils"

GO_DEST=${GO_DEST:-/usr/local/go}
GO_INSTALL_VERSION=${GO_INSTALL_VERSION:-1.26.8}
GOPROXY_URL=${GOPROXY_URL:-https://proxy.golang.org}
# The checksum database, reached through the proxy as the go command does.
GOSUMDB_URL=$GOPROXY_URL/sumdb/sum.golang.org

# Debian's kubernetes-client is 1.20: far too old for server-side field validation and
# aggregated discovery, so anything below this minor is ignored.
KUBECTL_MIN_MINOR=30
KUBECTL_VERSION=v1.32.11
# CoreDNS, built from the Go module proxy into bin/coredns: the integration suite checks podnet's
# DNS answers against its kubernetes plugin, and make bench measures it beside podnet's.
COREDNS_VERSION=v1.15.0

say() { echo "deps.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}

# version_ge A B: true when version A >= version B (dotted numbers).
version_ge() {
	[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

# required_go prints the newest of go.mod's `go` and `toolchain` lines, as x.y.z.
required_go() {
	local go_line toolchain_line want
	go_line=$(awk '$1 == "go" { print $2; exit }' "$ROOT/go.mod")
	toolchain_line=$(awk '$1 == "toolchain" { sub(/^go/, "", $2); print $2; exit }' "$ROOT/go.mod")
	want=${go_line:-1.0.0}
	if [ -n "$toolchain_line" ] && version_ge "$toolchain_line" "$want"; then
		want=$toolchain_line
	fi
	# Since Go 1.21 "1.N" names a language version; the first release of it is 1.N.0.
	if [[ $want =~ ^[0-9]+\.[0-9]+$ ]]; then
		want=$want.0
	fi
	echo "$want"
}

# go_version BIN prints BIN's version without the "go" prefix. GOTOOLCHAIN=local stops an old go
# from fetching a newer toolchain behind our back just to answer.
go_version() {
	GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null | sed 's/^go//'
}

# find_go prints the first go (PATH, then GO_DEST) that satisfies go.mod, or fails.
find_go() {
	local want candidate have
	want=$(required_go)
	for candidate in "$(command -v go || true)" "$GO_DEST/bin/go"; do
		[ -n "$candidate" ] && [ -x "$candidate" ] || continue
		have=$(go_version "$candidate")
		if [ -n "$have" ] && version_ge "$have" "$want"; then
			echo "$candidate"
			return 0
		fi
	done
	return 1
}

go_arch() {
	case "$(uname -m)" in
	x86_64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	armv6l | armv7l) echo armv6l ;;
	i386 | i686) echo 386 ;;
	ppc64le) echo ppc64le ;;
	s390x) echo s390x ;;
	riscv64) echo riscv64 ;;
	*) die "no Go toolchain for machine $(uname -m)" ;;
	esac
}

# zip_dirhash DIR prints the go.sum "h1:" hash of the module tree unpacked in DIR: base64 of the
# SHA-256 of the sorted "<sha256>  <path>" lines of every file (golang.org/x/mod/sumdb/dirhash).
zip_dirhash() {
	local hex
	hex=$(cd "$1" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum |
		sha256sum | cut -d' ' -f1)
	# shellcheck disable=SC2059 # the format string is the point: it turns hex into bytes
	printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64
}

# sumdb_hash MODULE VERSION prints the h1: hash the Go checksum database records for a module zip.
sumdb_hash() {
	curl -fsSL "$GOSUMDB_URL/lookup/$1@$2" | awk -v m="$1" -v v="$2" '$1 == m && $2 == v { print $3 }'
}

install_go() {
	local want version arch mod got expect
	want=$(required_go)
	version=$GO_INSTALL_VERSION
	version_ge "$version" "$want" || version=$want
	arch=$(go_arch)
	mod=v0.0.1-go$version.linux-$arch

	local parent
	parent=$(dirname "$GO_DEST")
	mkdir -p "$parent" 2>/dev/null || true
	[ -w "$parent" ] || die "Go $want or newer is needed and installing it into $GO_DEST needs root: sudo $0"

	say "installing Go $version ($arch) into $GO_DEST from $GOPROXY_URL"
	# Unpack beside the destination so the final moves are renames, never half-copied trees.
	# Global, not local: the EXIT trap runs after this function has returned.
	tmp=$(mktemp -d "$parent/.go-install.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	curl -fsSL -o "$tmp/toolchain.zip" "$GOPROXY_URL/golang.org/toolchain/@v/$mod.zip" ||
		die "download of golang.org/toolchain@$mod failed"
	mkdir "$tmp/x"
	unzip -q "$tmp/toolchain.zip" -d "$tmp/x"

	expect=$(sumdb_hash golang.org/toolchain "$mod")
	got=h1:$(zip_dirhash "$tmp/x")
	[ -n "$expect" ] || die "the checksum database has no entry for golang.org/toolchain@$mod"
	[ "$got" = "$expect" ] || die "golang.org/toolchain@$mod: checksum $got, checksum database says $expect"

	local tree=$tmp/x/golang.org/toolchain@$mod
	# Module zips carry no file modes; the executables are bin/* and pkg/tool/<os_arch>/*.
	find "$tree/bin" "$tree/pkg/tool" -type f -exec chmod 0755 {} +
	if [ -e "$GO_DEST" ]; then
		mv "$GO_DEST" "$tmp/old"
	fi
	mv "$tree" "$GO_DEST"
	rm -rf "$tmp"
	trap - EXIT

	if [ "$(command -v go || true)" != "$GO_DEST/bin/go" ]; then
		say "Go $version is in $GO_DEST/bin; the Makefile finds it there. For your shell:"
		say "  export PATH=$GO_DEST/bin:\$PATH"
	fi
}

missing_packages() {
	local pkg status
	command -v dpkg-query >/dev/null || return 0
	for pkg in $DEB_PACKAGES; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || echo "$pkg"
	done
}

install_packages() {
	local missing
	missing=$(missing_packages | tr '\n' ' ')
	[ -n "${missing// /}" ] || return 0
	if ! command -v apt-get >/dev/null; then
		die "missing packages ($missing) and no apt-get to install them"
	fi
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing}(run as root: sudo $0)"
	say "installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086 # word splitting is wanted: one argument per package
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# kubectl_minor BIN prints the minor version of a kubectl 1.x client, or nothing.
kubectl_minor() {
	"$1" version --client -o json 2>/dev/null |
		sed -n 's/.*"gitVersion": *"v1\.\([0-9][0-9]*\).*/\1/p' | head -n1
}

kubectl_git_version() {
	"$1" version --client -o json 2>/dev/null |
		sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1
}

ensure_kubectl() {
	local system minor
	system=$(command -v kubectl || true)
	if [ -n "$system" ]; then
		minor=$(kubectl_minor "$system")
		if [ -n "$minor" ] && [ "$minor" -ge "$KUBECTL_MIN_MINOR" ]; then
			return 0
		fi
	fi
	if [ -x "$ROOT/bin/kubectl" ] && [ "$(kubectl_git_version "$ROOT/bin/kubectl")" = "$KUBECTL_VERSION" ]; then
		return 0
	fi
	build_kubectl
}

# kubectl_ldflags prints the version variables upstream's release build stamps into component-base
# and client-go (the latter feeds the User-Agent). The build date is the last commit's, so that
# rebuilding an unchanged tree gives the same kubectl (the Makefile embeds it in bin/podnet).
kubectl_ldflags() {
	local major minor date ldflags pkg
	major=$(cut -d. -f1 <<<"${KUBECTL_VERSION#v}")
	minor=$(cut -d. -f2 <<<"${KUBECTL_VERSION#v}")
	date=$(git -C "$ROOT" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || true)
	[ -n "$date" ] || date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$KUBECTL_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$date"
	done
	echo "$ldflags"
}

# build_kubectl builds bin/kubectl from hack/kubectl.
build_kubectl() {
	local go ldflags
	go=$(find_go) || die "no usable go to build kubectl with"
	ldflags=$(TZ=UTC kubectl_ldflags)
	say "building bin/kubectl $KUBECTL_VERSION (no kubectl >= 1.$KUBECTL_MIN_MINOR on PATH)"
	(cd "$ROOT" && GOTOOLCHAIN=local "$go" build -trimpath -ldflags "$ldflags" -o bin/kubectl ./hack/kubectl) ||
		die "building bin/kubectl failed"
}

# ensure_coredns builds bin/coredns at COREDNS_VERSION unless it is there already (about 3 minutes
# and 110 MB the first time).
ensure_coredns() {
	local go
	if [ -x "$ROOT/bin/coredns" ] && "$ROOT/bin/coredns" -version 2>/dev/null | grep -qx "CoreDNS-${COREDNS_VERSION#v}"; then
		return 0
	fi
	go=$(find_go) || die "no usable go to build coredns with"
	say "building bin/coredns $COREDNS_VERSION from the Go module proxy"
	mkdir -p "$ROOT/bin"
	(cd "$ROOT" && GOTOOLCHAIN=local GOBIN="$ROOT/bin" GOFLAGS=-mod=mod "$go" install "github.com/coredns/coredns@$COREDNS_VERSION") ||
		die "building bin/coredns failed"
}

main() {
	case "${1:-}" in
	--print-go)
		# The fallback path keeps make's error message meaningful when nothing is installed yet.
		find_go || echo "$GO_DEST/bin/go"
		return 0
		;;
	--print-kubectl-ldflags)
		TZ=UTC kubectl_ldflags
		return 0
		;;
	--bench)
		# make bench measures etcd, the store under kube-apiserver, beside podnet. Debian's package
		# may try to start a system etcd; the bench starts its own in a namespace of its own.
		# podman is the peer of the pod figures; the bench keeps all its state in a temporary dir.
		# dnsperf drives the DNS figures.
		DEB_PACKAGES="$DEB_PACKAGES etcd-server podman dnsperf"
		;;
	"") ;;
	*) die "unknown argument $1 (usage: $0 [--print-go|--print-kubectl-ldflags|--bench])" ;;
	esac
	install_packages
	find_go >/dev/null || install_go
	find_go >/dev/null || die "Go at $GO_DEST does not satisfy go.mod ($(required_go))"
	ensure_kubectl
	ensure_coredns
}

main "$@"
