"""What the schemas cannot check in the deploy files (run by deploy/manifests-check.sh with the
rendered Kubernetes manifests as arguments): probes and resources of every Deployment,
references between objects, the compose services and Prometheus targets, every SWITCHBOARD_*
key known to api/src/config.rs and README's configuration table, the Dockerfile's build
command equal to deploy/run.sh's, and the Grafana dashboard's metrics emitted by the code.
Exits 1 with every failure listed."""

import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROCESSES = {"serve": 8080, "adapters": 9100, "analytics": 9100}
failures = []


def fail(message):
    failures.append(message)


def config_keys():
    """The keys api/src/config.rs reads from SWITCHBOARD_<KEY>, and `config` (the CLI's)."""
    source = (ROOT / "api/src/config.rs").read_text()
    block = re.search(r"const FIELDS: &'static \[&'static str\] = &\[(.*?)\];", source, re.S)
    keys = set(re.findall(r'"([a-z0-9_]+)"', block.group(1)))
    return keys | {"config"}


def readme_keys():
    """The keys README's "Configuration" table names."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {key for row in rows for key in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])}


def check_keys(where, names):
    known, documented = config_keys(), readme_keys()
    for name in names:
        if not name.startswith("SWITCHBOARD_"):
            continue
        key = name[len("SWITCHBOARD_"):].lower()
        if key not in known:
            fail(f"{where}: {name} is no key of api/src/config.rs")
        elif key not in documented and key != "config":
            fail(f"{where}: {name} is not in README's configuration table")


def check_kubernetes(paths):
    objects = [doc for path in paths for doc in yaml.safe_load_all(open(path)) if doc]
    by_kind = {}
    for doc in objects:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    deployments = by_kind.get("Deployment", {})
    for needed in ["switchboard-serve", "switchboard-adapters", "switchboard-analytics"]:
        if needed not in deployments:
            fail(f"k8s: no Deployment {needed}")
    keys = set()
    for kind in ["ConfigMap", "Secret"]:
        for doc in by_kind.get(kind, {}).values():
            keys |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
    check_keys("k8s ConfigMap/Secret", keys)
    pods = [(name, d["spec"]["template"]["spec"]) for name, d in deployments.items()]
    pods += [(name, j["spec"]["template"]["spec"]) for name, j in by_kind.get("Job", {}).items()]
    for name, pod in pods:
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                for ref, kind in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")]:
                    if ref in source and source[ref]["name"] not in by_kind.get(kind, {}):
                        fail(f"k8s {name}: envFrom names a missing {kind} {source[ref]['name']}")
            check_keys(f"k8s {name}", [e["name"] for e in container.get("env", [])])
            requests = container.get("resources", {}).get("requests", {})
            if not {"cpu", "memory"} <= set(requests):
                fail(f"k8s {name}: no cpu and memory requests")
    for name, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        process = container.get("args", [""])[0]
        if process not in PROCESSES:
            fail(f"k8s {name}: runs '{process}', not one of {sorted(PROCESSES)}")
            continue
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
            get = container.get(probe, {}).get("httpGet", {})
            if get.get("path") != path:
                fail(f"k8s {name}: {probe} is not GET {path}")
            if ports.get(get.get("port")) != PROCESSES[process]:
                fail(f"k8s {name}: {probe} is not on port {PROCESSES[process]}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        if any(labels.get(k) != v for k, v in selector.items()):
            fail(f"k8s {name}: its selector does not match its pods")
    jobs = by_kind.get("Job", {}).values()
    if not any("migrate" in " ".join(j["spec"]["template"]["spec"]["containers"][0].get("args", []))
               and "topics ensure" in " ".join(j["spec"]["template"]["spec"]["containers"][0].get("args", []))
               for j in jobs):
        fail("k8s: no Job runs `migrate` and `topics ensure`")
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for name, budget in by_kind.get("PodDisruptionBudget", {}).items():
        wanted = budget["spec"]["selector"]["matchLabels"]
        if not any(all(l.get(k) == v for k, v in wanted.items()) for l in pod_labels):
            fail(f"k8s PodDisruptionBudget {name}: selects no Deployment's pods")
    for name, scaler in by_kind.get("HorizontalPodAutoscaler", {}).items():
        target = scaler["spec"]["scaleTargetRef"]
        if target["kind"] != "Deployment" or target["name"] not in deployments:
            fail(f"k8s HorizontalPodAutoscaler {name}: scales no Deployment here")
    for name, service in by_kind.get("Service", {}).items():
        wanted = service["spec"]["selector"]
        if not any(all(l.get(k) == v for k, v in wanted.items()) for l in pod_labels):
            fail(f"k8s Service {name}: selects no Deployment's pods")
    return len(objects)


def check_compose():
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    services = compose["services"]
    for needed in ["kafka", "postgres", "otel-collector", "prometheus", "serve-1", "serve-2",
                   "adapters", "analytics", "init"]:
        if needed not in services:
            fail(f"compose: no service {needed}")
    if not services.get("kafka", {}).get("image", "").startswith("apache/kafka:"):
        fail("compose: kafka is not the official apache/kafka image")
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            if dependency not in services:
                fail(f"compose {name}: depends on a missing service {dependency}")
        check_keys(f"compose {name}", service.get("environment", {}))
        if service.get("image", "").startswith("switchboard") and name != "init":
            process = (service.get("command") or ["serve"])[0]
            if process not in PROCESSES:
                fail(f"compose {name}: runs '{process}'")
            if service.get("depends_on", {}).get("init", {}).get("condition") != \
                    "service_completed_successfully":
                fail(f"compose {name}: does not wait for init to complete")
    init = " ".join(services.get("init", {}).get("command", []))
    if "migrate" not in init or "topics ensure" not in init:
        fail("compose init: does not run `migrate` and `topics ensure`")
    prometheus = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())
    scraped = {}
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                scraped[host] = int(port)
    for name, service in services.items():
        if service.get("image", "").startswith("switchboard") and name != "init":
            process = (service.get("command") or ["serve"])[0]
            if scraped.get(name) != PROCESSES.get(process):
                fail(f"compose prometheus: does not scrape {name} on {PROCESSES.get(process)}")
    for host in scraped:
        if host not in services:
            fail(f"compose prometheus: scrapes a missing service {host}")


def check_dockerfile():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    joined = dockerfile.replace("\\\n", " ")
    built = re.search(r"^RUN (cargo build[^&\n]*?)\s*(&&|$)", joined, re.M)
    run_script = (ROOT / "deploy/run.sh").read_text()
    reference = re.search(r"^(cargo build [^\n]*)$", run_script, re.M)
    if not built or not reference or built.group(1).split() != reference.group(1).split():
        fail(f"Dockerfile: its build command ({built and built.group(1)}) is not deploy/run.sh's "
             f"({reference and reference.group(1)})")
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    if len(stages) < 2:
        fail("Dockerfile: not multi-stage")
    else:
        runtime = stages[-1]
        user = re.search(r"^USER (\S+)", runtime, re.M)
        if not user or user.group(1).split(":")[0] in ("root", "0"):
            fail("Dockerfile: the runtime stage does not run as a user without privileges")
        for copied in ["migrations", "api/asyncapi.json", "--from=build"]:
            if copied not in runtime:
                fail(f"Dockerfile: the runtime stage does not copy {copied}")
    env = re.findall(r"(SWITCHBOARD_[A-Z0-9_]+)=", dockerfile)
    check_keys("Dockerfile", env)


def emitted_metrics():
    names = set()
    for crate in ["domain", "adapters", "projections", "api"]:
        for path in (ROOT / crate / "src").rglob("*.rs"):
            names |= set(re.findall(r'"(switchboard_[a-z0-9_]+)"', path.read_text()))
    return names


def check_dashboard():
    known = emitted_metrics()
    paths = sorted((ROOT / "deploy/grafana").glob("*.json"))
    if not paths:
        fail("grafana: no dashboard")
    for path in paths:
        dashboard = json.loads(path.read_text())
        expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        if not expressions:
            fail(f"grafana {path.name}: no queries")
        for expression in expressions:
            for metric in re.findall(r"switchboard_[a-z0-9_]+", expression):
                base = re.sub(r"_(bucket|sum|count)$", "", metric)
                if metric not in known and base not in known:
                    fail(f"grafana {path.name}: {metric} is emitted nowhere in the code")


def main():
    count = check_kubernetes(sys.argv[1:])
    check_compose()
    check_dockerfile()
    check_dashboard()
    if failures:
        for failure in failures:
            print(f"manifests-check: {failure}", file=sys.stderr)
        sys.exit(1)
    print(f"[switchboard] structure: {count} rendered Kubernetes objects, deploy/compose.yaml, "
          "deploy/Dockerfile and the Grafana dashboard agree with the code", file=sys.stderr)


main()
