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
from dataclasses import dataclass
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
# services that decide or plan only while they hold their role's lease (`tessera.lease`)
LEASE_HOLDERS = ("admission", "branch-sequencer", "tiler")

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


@dataclass(frozen=True)
class Replicas:
    """How many processes of each service `tessera up` runs."""

    inference: int = 1
    gateways: int = 1
    mergers: int = 1  # one per RESULTS partition
    standbys: int = 0  # extra replicas of each lease-holding service, standing by

    def of(self, service: str) -> int:
        if service in LEASE_HOLDERS:
            return 1 + self.standbys
        return {"inference": self.inference, "gateway": self.gateways, "merger": self.mergers}.get(
            service, 1
        )


@dataclass(frozen=True)
class Process:
    service: str
    replica: int
    env: dict[str, str]

    @property
    def name(self) -> str:
        return f"{self.service}-{self.replica}"

    @property
    def role(self) -> str:
        """What another replica can stand in for: the service, or a merger's own partition."""
        return self.name if self.service == "merger" else self.service


def processes(services: list[str], replicas: Replicas) -> list[Process]:
    """The processes to start, in order, each with the environment only it gets.

    Gateways share the one port (SO_REUSEPORT); each merger owns the partition its name's
    ordinal gives, and every process (the tiler above all) counts `replicas.mergers` partitions.
    """
    shared = {"TESSERA_MERGER_PARTITIONS": str(replicas.mergers)}
    out = []
    for service in services:
        for replica in range(replicas.of(service)):
            own = {"TESSERA_MERGER_REPLICA": f"merger-{replica}"} if service == "merger" else {}
            out.append(Process(service, replica, {**shared, **own}))
    return out


@app.command()
def up(
    state: Annotated[Path, typer.Option(help="folder for embedded servers' data")] = REPO_ROOT
    / ".state",
    port: Annotated[int, typer.Option(help="gateway port, shared by every gateway")] = 8000,
    inference: Annotated[
        int, typer.Option("--inference", "--inference-replicas", min=1, max=64)
    ] = 1,
    gateways: Annotated[int, typer.Option(min=1, max=64, help="gateway processes")] = 1,
    mergers: Annotated[int, typer.Option(min=1, max=64, help="RESULTS partitions")] = 1,
    standbys: Annotated[
        int, typer.Option(min=0, max=8, help="standbys of admission, sequencer and tiler")
    ] = 0,
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
        plan = processes(available_services(), Replicas(inference, gateways, mergers, standbys))
        procs = start_services(env, state, plan)
        stack.callback(stop_services, procs)
        url = f"http://127.0.0.1:{port}"
        where = f"UI at {url}/" if (ui / "index.html").is_file() else "no UI build (make ui)"
        typer.echo(f"Tessera is up: {where}, API at {url}/v1, docs at {url}/docs; Ctrl-C stops")
        wait_for_exit(plan, procs)


def start_services(
    env: dict[str, str], state: Path, plan: list[Process]
) -> list[subprocess.Popen[bytes]]:
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for ops_port, process in enumerate(plan, OPS_PORT_BASE + 1):
        log_file = (logs / f"{process.name}.log").open("ab")
        # each process serves /metrics /healthz /readyz on its own port (the gateway on its own)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tessera.cli", "serve", process.service],
                env={**env, **process.env, "TESSERA_OPS_PORT": str(ops_port)},
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def lost_roles(plan: list[Process], exited: set[int]) -> list[str]:
    """The roles of `plan` whose processes (indices) have all exited; a merger's partition is
    a role of its own, the other services' replicas stand in for each other."""
    members: dict[str, list[int]] = {}
    for index, process in enumerate(plan):
        members.setdefault(process.role, []).append(index)
    return [role for role, indices in members.items() if exited.issuperset(indices)]


def wait_for_exit(plan: list[Process], procs: list[subprocess.Popen[bytes]]) -> None:
    """Until a signal, or until a role has no process left (a replica's exit is only said)."""
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exited: set[int] = set()
    while not stop:
        for index, proc in enumerate(procs):
            if index not in exited and proc.poll() is not None:
                exited.add(index)
                name = plan[index].name
                typer.echo(f"{name} exited (code {proc.returncode})", err=True)
        if lost := lost_roles(plan, exited):
            typer.echo(f"no process of {', '.join(lost)} is left; stopping the rest", err=True)
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
