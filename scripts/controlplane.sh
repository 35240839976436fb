#!/usr/bin/env bash
# Builds the test control plane for internal/kube's tests — kube-apiserver from k8s.io/kubernetes and a
# one-member etcd embedding go.etcd.io/etcd/server/v3, both at the versions pinned in
# scripts/controlplane/*/go.mod — and fetches the Gateway API CRDs at a pinned version.
#
#   scripts/controlplane.sh build   build what is missing (a cold machine pays ~10 min of CPU once), then print paths
#   scripts/controlplane.sh paths   print the paths if everything is built; exit 3 if not
#
# Binaries are cached in ${MAINTPAGE_CACHE:-$XDG_CACHE_HOME/maintpage or ~/.cache/maintpage}/controlplane,
# named by a hash of the wrapper module and the Go version, so a change of either rebuilds and nothing
# else does. The tests (internal/kube/kubetest) run "paths" to find them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/controlplane"
cache="${MAINTPAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/maintpage}/controlplane"
export PATH="$PATH:/usr/local/go/bin"
# The standard channel of the Gateway API (HTTPRoute v1), applied by the tests.
GATEWAY_API_VERSION=v1.6.3

key() { # hash of a wrapper module's files and the toolchain
  (cd "$src/$1" && cat go.mod go.sum $(ls *.go 2>/dev/null) && go version) | sha256sum | cut -c1-12
}
version() { # version of module $2 required in wrapper module $1 (one-line or block require)
  awk -v m="$2" '$1 == m { print $2 } $1 == "require" && $2 == m { print $3 }' "$src/$1/go.mod"
}
apiserver="$cache/kube-apiserver-$(version apiserver k8s.io/kubernetes)-$(key apiserver)"
etcd="$cache/etcd-$(version etcd go.etcd.io/etcd/server/v3)-$(key etcd)"
crds="$(go env GOMODCACHE)/sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION/config/crd/standard"

build() { # build NAME OUT PACKAGE: into a temporary name first, so a killed build leaves no half binary
  local t0=$SECONDS
  echo "controlplane: building $1 (cached afterwards in $cache)" >&2
  mkdir -p "$cache"
  (cd "$src/$1" && nice -n 10 go build -o "$2.tmp" "$3")
  mv "$2.tmp" "$2"
  echo "controlplane: built $1 in $((SECONDS - t0))s" >&2
}

case "${1:-}" in
build)
  [ -x "$etcd" ] || build etcd "$etcd" .
  [ -x "$apiserver" ] || build apiserver "$apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  [ -d "$crds" ] || (cd / && GOFLAGS=-mod=mod go mod download "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")
  ;;
paths) ;;
*)
  echo "usage: $0 build|paths" >&2
  exit 2
  ;;
esac
for f in "$apiserver" "$etcd"; do
  if [ ! -x "$f" ]; then
    echo "controlplane: $f is not built: run scripts/controlplane.sh build" >&2
    exit 3
  fi
done
if [ ! -d "$crds" ]; then
  echo "controlplane: Gateway API CRDs $GATEWAY_API_VERSION not downloaded: run scripts/controlplane.sh build" >&2
  exit 3
fi
echo "KUBE_APISERVER=$apiserver"
echo "ETCD=$etcd"
echo "GATEWAY_API_CRDS=$crds"
