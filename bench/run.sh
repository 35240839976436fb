#!/bin/sh
# Benchmark maintpage against nginx, HAProxy, Caddy and the original Flask app on this machine, in one command.
#
#   bench/run.sh                          # full run: 3 runs, each 2 rounds × 5 s × 10/100/1000 connections,
#                                         # h2load, 10 long-lived rounds at 1000 connections (~21 min on 2 cores)
#   bench/run.sh --runs 2                 # the same, 2 runs (~14 min)
#   bench/run.sh --smoke                  # every section, a few seconds each: every system answers (CI)
#
# It installs what is missing from Debian's packages (nginx, haproxy, caddy, wrk, nghttp2-client for h2load,
# python3-flask, gunicorn; apt-get update only when something must be installed), builds maintpage, and runs the
# harness (go run ./bench/harness; --help lists its flags). Results go to bench/results/.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v h2load >/dev/null 2>&1 || missing="$missing nghttp2-client"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
command -v caddy >/dev/null 2>&1 || missing="$missing caddy"
# Debian's python3, not a pyenv or venv one earlier on PATH: Flask and gunicorn come from apt.
/usr/bin/python3 -c 'import flask' >/dev/null 2>&1 || missing="$missing python3-flask"
/usr/bin/python3 -c 'import gunicorn' >/dev/null 2>&1 || missing="$missing gunicorn"

if [ -n "$missing" ]; then
	echo "bench/run.sh: installing$missing" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -q
	# shellcheck disable=SC2086 # one word per package
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
CGO_ENABLED=0 go build -o "$tmp/maintpage" ./cmd/maintpage   # static, as shipped
go build -o "$tmp/harness" ./bench/harness
"$tmp/harness" --maintpage "$tmp/maintpage" --command "bench/run.sh $*" "$@"
