"""The deploy files parse and agree with the code (no Docker daemon or helm binary needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tessera.cli import SERVICES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_runs_every_service_with_the_servers_it_needs() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in SERVICES:
        assert services[name]["command"] == ["serve", name]
        env = services[name]["environment"]
        assert {"NATS_URL", "DATABASE_URL", "REDIS_URL"} <= set(env)
    assert {"nats", "postgres", "redis", "prometheus", "grafana"} <= set(services)
    assert "-js" in services["nats"]["command"]
    for decider in ("admission", "branch-sequencer"):  # a leader and a standby (tessera.lease)
        assert services[decider]["deploy"]["replicas"] == 2


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for t in sd["names"]
    }
    targets |= {"gateway"}
    assert set(SERVICES) <= targets


def test_grafana_dashboard_uses_metrics_the_code_exports() -> None:
    from tessera import telemetry

    exported = {m._name for m in vars(telemetry).values() if hasattr(m, "_name")}
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "tessera.json").read_text())
    for panel in dash["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"tessera_[a-z_]+", target["expr"]))
            bases = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in names}
            assert bases <= exported | {n.removesuffix("_total") for n in exported}, target["expr"]


def test_helm_chart_parses_and_names_real_services() -> None:
    chart = DEPLOY / "helm" / "tessera"
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["name"] == "tessera"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert set(values["services"]) | {"gateway"} == set(SERVICES)
    for template in (chart / "templates").glob("*.yaml"):
        text = template.read_text()
        assert text.count("{{") == text.count("}}"), template.name
        for doc in render_roughly(text).split("\n---\n"):
            yaml.safe_load(doc)


def render_roughly(text: str) -> str:
    """Stand-in values for template actions, so that what is left can be parsed as YAML."""
    text = re.sub(r"^\s*\{\{-? (range|end|with|define)\b.*?\}\}\s*$", "", text, flags=re.M)
    text = re.sub(
        r"\{\{- (include|toYaml) [^}]*\| nindent (\d+) \}\}",
        lambda m: "\n" + " " * int(m.group(2)) + "stand-in: value",
        text,
    )
    return re.sub(r"\{\{-?.*?-?\}\}", "x", text)


def test_image_builds_the_ui_and_serves_it() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = [line.split()[-1] for line in text.splitlines() if line.startswith("FROM ")]
    assert stages[0] == "ui", "the UI is built in its own stage"
    assert "COPY --from=ui /ui/dist /app/ui" in text
    assert "TESSERA_GATEWAY_UI_DIR=/app/ui" in text
    ignored = (DEPLOY.parent / ".dockerignore").read_text().split()
    assert {"ui/node_modules", "ui/dist", ".venv"} <= set(ignored)
