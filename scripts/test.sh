#!/usr/bin/env bash
# The project's one test command, for a fresh machine and for CI: installs what the tests need
# (Redis and Sentinel, Chromium, h2spec, the test Kubernetes control plane, nginx, Caddy and HAProxy
# for the examples, and for the benchmark smoke run wrk, h2load, Flask and gunicorn) when missing, checks
# formatting and vet, runs every test with the race detector, then a short benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel)
command -v chromium >/dev/null || missing+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# The example proxies the tests start for real (examples/proxies_test.go).
command -v caddy >/dev/null || missing+=(caddy)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# The daemonless builder that builds the container image (deploy/image_test.go).
command -v buildah >/dev/null || missing+=(buildah)
command -v wrk >/dev/null || missing+=(wrk)
# h2load, for the benchmark's HTTP/2 section (bench/run.sh --smoke below).
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v caddy >/dev/null || missing+=(caddy)
/usr/bin/python3 -c 'import flask' 2>/dev/null || missing+=(python3-flask)
command -v gunicorn >/dev/null || missing+=(gunicorn)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# h2spec (HTTP/2 conformance, run against --h2c by TestH2Spec), pinned; the module proxy has no
# newer version of it.
export PATH="$PATH:$(go env GOPATH)/bin"
command -v h2spec >/dev/null || go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
# kustomize and helm for the deploy tests (deploy/manifests_test.go), at the versions pinned there.
command -v kustomize >/dev/null || go install sigs.k8s.io/kustomize/kustomize/v5@v5.4.3
command -v helm >/dev/null || go install helm.sh/helm/v3/cmd/helm@v3.16.4

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
# The Kubernetes tests run against a real kube-apiserver and etcd: built once per machine and cached
# (~10 min of CPU cold, a second warm), see scripts/controlplane.sh.
scripts/controlplane.sh build >/dev/null
go test -race -timeout 20m ./...
# Allocations and bytes per connection as shipped: the race detector's sync.Pool drops buffers at
# random on purpose, and its bookkeeping grows every structure.
go test -count=1 -run 'AllocatesNothing|HoldNoBuffers|FootprintPerConnection' ./internal/server/ ./internal/gate/
bench/run.sh --smoke
