#!/usr/bin/env bash
# Validates the deploy files offline, without a container engine or a cluster:
#   - kustomize (pinned, built once from the Go module proxy) renders deploy/k8s/base and every
#     overlay;
#   - every rendered manifest passes the Kubernetes JSON schemas (kubernetes-validate, strict);
#   - deploy/compose.yaml passes the compose specification's JSON schema (check-jsonschema);
#   - deploy/manifests-check.py checks what schemas cannot: probes, resources, references
#     between objects, Prometheus targets, every SWITCHBOARD_* key known to api/src/config.rs
#     and the README's table, the Dockerfile's build command equal to deploy/run.sh's, the
#     Grafana dashboard's metrics emitted somewhere in the code.
# Tools are installed once into the cache (deploy/common.sh); a run then takes a few seconds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

# Kubernetes release the manifests are checked against.
KUBERNETES_VERSION="${SWITCHBOARD_KUBERNETES_VERSION:-1.32.0}"

bin="$(ensure_manifest_tools)"
compose_schema="$(ensure_compose_schema)"
kustomize="$(ensure_kustomize)"

rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
  dir="${dir%/}"
  name="$(echo "$dir" | tr '/' '-')"
  timeout 60 "$kustomize" build "$dir" >"$rendered/$name.yaml"
  log "rendered $dir"
done
timeout 120 "$bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$rendered"/*.yaml
log "Kubernetes schemas ($KUBERNETES_VERSION, strict): every rendered manifest passes"
timeout 60 "$bin/check-jsonschema" --schemafile "$compose_schema" deploy/compose.yaml >/dev/null
log "compose specification schema: deploy/compose.yaml passes"
timeout 60 "$bin/python" deploy/manifests-check.py "$rendered"/*.yaml
