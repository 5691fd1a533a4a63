#!/usr/bin/env bash
# Provisions what the e2e harness needs, idempotently, caching everything outside the
# repository (~/.cache/bp-e2e, or $BP_E2E_CACHE):
#   1. Debian packages the harness runs (iproute2 for `ip netns`), only when missing.
#   2. etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from the Go
#      module in e2e/kube (versions pinned in its go.mod), skipped when the binaries exist
#      and their stamp matches the hash of go.mod, go.sum and tools.go.
# A second run does nothing and says so. Prints how long each step took.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kube_dir="$here/kube"
cache="${BP_E2E_CACHE:-$HOME/.cache/bp-e2e}"
version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$kube_dir/go.mod")"
bin_dir="${BP_E2E_BIN_DIR:-$cache/bin-$version}"
did_something=0

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
say() { echo "provision: $*"; }

# --- 1. Debian packages ---------------------------------------------------------------
t0="$(now)"
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ]; then
        say "missing packages ${missing[*]} and not root: install them first" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    did_something=1
    say "packages installed in $(took "$t0")"
else
    say "packages: nothing to do (iproute2 present) [$(took "$t0")]"
fi

# --- 2. Control-plane binaries ---------------------------------------------------------
t0="$(now)"
stamp="$(cat "$kube_dir/go.mod" "$kube_dir/go.sum" "$kube_dir/tools.go" | sha256sum | cut -d' ' -f1)"
have_all=1
for b in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    [ -x "$bin_dir/$b" ] || have_all=0
done
if [ "$have_all" = 1 ] && [ "$(cat "$bin_dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
    say "control plane $version: nothing to do (cached in $bin_dir) [$(took "$t0")]"
else
    if ! command -v go >/dev/null 2>&1; then
        say "Go is required (>= the version in e2e/kube/go.mod) to build the control plane" >&2
        exit 1
    fi
    say "building Kubernetes $version and etcd into $bin_dir with $(go version | cut -d' ' -f3) (first build: ~8 min on 2 cores, more when modules must be downloaded)"
    mkdir -p "$bin_dir"
    rm -f "$bin_dir/.stamp"
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=$(echo "$version" | cut -d. -f1 | tr -d v)"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    t1="$(now)"
    (cd "$kube_dir" && go mod download)
    say "modules downloaded in $(took "$t1")"
    t1="$(now)"
    (cd "$kube_dir" && go build -trimpath -ldflags "$ldflags" -o "$bin_dir/" \
        k8s.io/kubernetes/cmd/kube-apiserver \
        k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler \
        go.etcd.io/etcd/server/v3)
    # Go names the etcd binary after its package path (server/v3): call it etcd.
    for name in server v3; do
        if [ -x "$bin_dir/$name" ]; then
            mv -f "$bin_dir/$name" "$bin_dir/etcd"
        fi
    done
    for b in etcd kube-apiserver kube-controller-manager kube-scheduler; do
        [ -x "$bin_dir/$b" ] || { say "build produced no $b in $bin_dir" >&2; exit 1; }
    done
    echo "$stamp" >"$bin_dir/.stamp"
    did_something=1
    say "control plane built in $(took "$t1") ($("$bin_dir/kube-apiserver" --version))"
fi

if [ "$did_something" = 0 ]; then
    say "everything already provisioned; nothing done"
fi
