"""The `tessera` command: run the stack, run one service, rebuild read models, tools."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tessera.gateway import cli as tenants_cli
from tessera.gateway.settings import GatewaySettings
from tessera.segmentation import cli as model_cli
from tessera.settings import REPO_ROOT, Settings
from tessera.slides import cli as slides_cli

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
events_app = typer.Typer(no_args_is_help=True, help="The event log.")
app.add_typer(events_app, name="events")

URL_VARIABLES = (
    ("nats_url", "NATS_URL"),
    ("database_url", "DATABASE_URL"),
    ("redis_url", "REDIS_URL"),
)

# service name -> module with `main()`; the order is the start order of `tessera up`
SERVICES: dict[str, str] = {
    "projector": "tessera.projector.main",
    "admission": "tessera.admission.main",
    "branch-sequencer": "tessera.branch_sequencer.main",
    "tiler": "tessera.tiler.main",
    "inference": "tessera.inference.main",
    "merger": "tessera.merger.main",
    "gateway": "tessera.gateway.main",
}


OPS_PORT_BASE = 9100


def available_services() -> list[str]:
    """Services whose entry module exists in this build."""
    out = []
    for name, module in SERVICES.items():
        with contextlib.suppress(ModuleNotFoundError):
            if importlib.util.find_spec(module) is not None:
                out.append(name)
    return out


@app.command()
def serve(service: Annotated[str, typer.Argument(help="one of: " + ", ".join(SERVICES))]) -> None:
    """Run one service in this process (stop with SIGTERM or Ctrl-C)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
    importlib.import_module(SERVICES[service]).main()


@app.command()
def up(
    state: Annotated[Path, typer.Option(help="folder for embedded servers' data")] = REPO_ROOT
    / ".state",
    port: Annotated[int, typer.Option(help="gateway port")] = 8000,
    inference_replicas: Annotated[int, typer.Option(min=1, max=64)] = 1,
    nats_cluster: Annotated[
        bool, typer.Option(help="embedded NATS as a 3-node JetStream cluster, R3 streams")
    ] = False,
) -> None:
    """Run Tessera: every service, on embedded servers unless NATS/DATABASE/REDIS_URL are set."""
    from tessera.embedded import embedded_stack

    with contextlib.ExitStack() as stack:
        given = Settings().model_fields_set  # what the environment names
        ui = GatewaySettings().ui_dir
        env = dict(os.environ)  # the services' environment: this one plus what is set here
        missing = [var for field, var in URL_VARIABLES if field not in given]
        if nats_cluster and "NATS_URL" not in missing:
            raise typer.BadParameter("--nats-cluster starts an embedded cluster: unset NATS_URL")
        if missing:
            typer.echo(f"starting embedded servers under {state} (no {', '.join(missing)} given)")
            nodes = 3 if nats_cluster else 1
            urls = stack.enter_context(embedded_stack(state / "servers", nats_nodes=nodes))
            env.update({var: value for var, value in urls.env().items() if var in missing})
        if nats_cluster:
            env["TESSERA_STREAM_REPLICAS"] = "3"
        if "results_root" not in given:
            env["TESSERA_RESULTS_ROOT"] = str(state / "results")
        env["TESSERA_GATEWAY_PORT"] = str(port)
        procs = start_services(env, state, inference_replicas)
        stack.callback(stop_services, procs)
        url = f"http://127.0.0.1:{port}"
        where = f"UI at {url}/" if (ui / "index.html").is_file() else "no UI build (make ui)"
        typer.echo(f"Tessera is up: {where}, API at {url}/v1, docs at {url}/docs; Ctrl-C stops")
        wait_for_exit(procs)


def start_services(
    env: dict[str, str], state: Path, inference_replicas: int
) -> list[subprocess.Popen[bytes]]:
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    ops_port = OPS_PORT_BASE
    for name in available_services():
        for replica in range(inference_replicas if name == "inference" else 1):
            log_file = (logs / f"{name}-{replica}.log").open("ab")
            # each process serves /metrics /healthz /readyz on its own port (the gateway on its own)
            ops_port += 1
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tessera.cli", "serve", name],
                    env={**env, "TESSERA_OPS_PORT": str(ops_port)},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


def wait_for_exit(procs: list[subprocess.Popen[bytes]]) -> None:
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            typer.echo(f"a service exited (code {dead[0].returncode}); stopping the rest", err=True)
            return
        time.sleep(0.5)


def stop_services(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
        if p.poll() is None:
            p.kill()


@events_app.command("replay")
def events_replay() -> None:
    """Drop the read models and rebuild them from the whole event log."""
    from tessera.projector.main import replay

    last = asyncio.run(replay(Settings()))
    typer.echo(f"read models rebuilt from the log up to sequence {last}")


# tool groups that live with their libraries (both import their heavy modules lazily)
app.add_typer(slides_cli.app, name="slides")
app.add_typer(model_cli.app, name="model")
app.add_typer(tenants_cli.app, name="tenants")  # the gateway's API tokens


def main() -> None:
    app()


if __name__ == "__main__":
    main()
