#!/usr/bin/env bash
# `make demo`: the operator on an L1 devnet, from `kubectl apply` to Ready. The devnet is
# builder-playground's own output folder of `start l1 --dry-run` (the one recorded in
# ../shared/fixtures/real-c473a6a, or BP_DEMO_OUTPUT=DIR), turned into Secrets and a
# BuilderPlayground by `bp-generator convert DIR`; without one, examples/l1.yaml.
#
# With KUBECONFIG set, it uses that cluster (the generator image must be pullable there; see
# the chart for installing the operator in a cluster). Without, it brings up the local
# Kubernetes of e2e/ (control plane and a real kubelet + containerd node built from source;
# the project's image and stand-ins for the devnet's images imported) and tears it down at the
# end; set BP_DEMO_KEEP=1 to keep it running.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/target/debug"
image="ghcr.io/flashbots/builder-playground-operator"
version="$(awk -F'"' '/^version = / { print $2; exit }' "$root/Cargo.toml")"
state="${BP_DEMO_STATE:-$HOME/.cache/bp-e2e/state/demo}"
metrics="127.0.0.1:${BP_DEMO_METRICS_PORT:-18080}"
started_cluster=0
operator_pid=""

command -v kubectl >/dev/null || { echo "demo: kubectl is required" >&2; exit 1; }

cleanup() {
    if [ -n "$operator_pid" ]; then
        kill -TERM "$operator_pid" 2>/dev/null || true
        wait "$operator_pid" 2>/dev/null || true
    fi
    if [ "$started_cluster" = 1 ] && [ "${BP_DEMO_KEEP:-0}" != 1 ]; then
        "$bin/bp-e2e" down --state "$state" >/dev/null
        echo "demo: local cluster stopped"
    fi
}
trap cleanup EXIT

if [ -z "${KUBECONFIG:-}" ]; then
    echo "demo: no KUBECONFIG: starting the local Kubernetes of e2e/ ($state)"
    up="$("$bin/bp-e2e" up --state "$state")"
    echo "$up" | sed 's/^/  /'
    eval "$(echo "$up" | tail -1)"
    started_cluster=1
fi

kubectl apply --server-side -f "$root/crds/" >/dev/null
"$bin/bp-operator" --metrics-addr "$metrics" --generator-image "$image:$version" >"$state.operator.log" 2>&1 &
operator_pid=$!
echo "demo: operator running (pid $operator_pid, metrics on http://$metrics/metrics, log $state.operator.log)"

output="${BP_DEMO_OUTPUT:-}"
recorded="$root/../shared/fixtures/real-c473a6a"
if [ -z "$output" ] && [ -d "$recorded/l1-artifacts" ]; then
    output="$(mktemp -d)"
    trap 'rm -rf "$output"; cleanup' EXIT
    cp -r "$recorded/l1-artifacts/." "$output/"
    cp "$recorded/l1-default.manifest.json" "$output/manifest.json"
fi
if [ -n "$output" ]; then
    echo "demo: $ bp-generator convert <builder-playground output folder> --name l1 | kubectl apply -f -"
    "$bin/bp-generator" convert "$output" --name l1 2>/dev/null | kubectl apply --server-side -f -
else
    kubectl apply --server-side -f "$root/examples/l1.yaml"
fi
kubectl wait --for=condition=Ready bp/l1 --timeout=180s
echo
kubectl get bp -o wide
echo
{
    echo "SERVICE READY STATE RESTARTS PORTS"
    kubectl get bp l1 -o go-template='{{range .status.serviceStatuses}}{{.name}} {{.ready}} {{.state}} {{.restarts}} {{range .ports}}{{.name}}={{.port}},{{end}}{{"\n"}}{{end}}'
} | sed 's/,$//' | column -t
echo
{
    echo "SERVICE PORT IN-CLUSTER IN-POD"
    kubectl get bp l1 -o go-template='{{range .status.endpoints}}{{.service}} {{.port}} {{.inCluster}} {{.inPod}}{{"\n"}}{{end}}'
} | column -t
echo
kubectl get pod l1 -o wide
echo
echo "demo: inside container el (a stand-in under reth's image name, see e2e/README.md), the volumes are real mounts:"
kubectl exec l1 -c el -- sh -c 'mount | grep -E " on /(artifacts|data/jwtsecret|data_reth) " | sed "s/^/  /"; echo "  /data/jwtsecret holds $(wc -c < /data/jwtsecret) bytes"'
if [ -n "$output" ]; then
    echo "demo: genesis.json in the folder and in container el:"
    echo "  $(sha256sum < "$output/genesis.json" | cut -c1-64)  $output/genesis.json"
    echo "  $(kubectl exec l1 -c el -- sha256sum /data/genesis.json)"
fi
if [ "${BP_DEMO_KEEP:-0}" = 1 ]; then
    echo
    echo "demo: kept running. export KUBECONFIG=$KUBECONFIG; stop with: kill $operator_pid; $bin/bp-e2e down --state $state"
    operator_pid=""
fi
