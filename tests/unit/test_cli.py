"""`tessera up`'s replicas: which processes it starts and what each is told."""

from __future__ import annotations

from collections import Counter

from typer.testing import CliRunner

from tessera.cli import SERVICES, Replicas, app, lost_roles, processes
from tessera.merger.settings import MergerSettings


def test_up_starts_the_replicas_asked_for_and_one_of_the_rest() -> None:
    plan = processes(list(SERVICES), Replicas(inference=4, gateways=2, mergers=3, standbys=1))
    counts = Counter(p.service for p in plan)
    assert counts == {
        "projector": 1,
        "admission": 2,
        "branch-sequencer": 2,
        "tiler": 2,
        "inference": 4,
        "merger": 3,
        "gateway": 2,
    }
    assert len({p.name for p in plan}) == len(plan)  # one log file each
    assert [p.service for p in plan][-2:] == ["gateway", "gateway"]  # the start order holds


def test_each_merger_owns_its_own_partition_of_the_count_the_tiler_reads_too() -> None:
    plan = processes(list(SERVICES), Replicas(mergers=3))
    counts = {p.env["TESSERA_MERGER_PARTITIONS"] for p in plan}
    assert counts == {"3"}  # every process, the tiler among them
    owned = [
        MergerSettings(**{"merger_partitions": 3, "replica": p.env["TESSERA_MERGER_REPLICA"]})
        for p in plan
        if p.service == "merger"
    ]
    assert [s.partition for s in owned] == [0, 1, 2]


def test_up_refuses_replica_counts_out_of_range() -> None:
    for option in ("--gateways", "--mergers", "--inference"):
        result = CliRunner().invoke(app, ["up", option, "0"])
        assert result.exit_code == 2 and "Invalid value" in result.output, option
    result = CliRunner().invoke(app, ["up", "--standbys", "-1"])
    assert result.exit_code == 2


def test_up_carries_on_while_every_role_keeps_a_process() -> None:
    plan = processes(list(SERVICES), Replicas(inference=2, gateways=2, mergers=2, standbys=1))
    index = {p.name: i for i, p in enumerate(plan)}
    replicas_died = {index["tiler-0"], index["gateway-1"], index["inference-0"]}
    assert lost_roles(plan, replicas_died) == []  # a standby, a gateway, a worker remain
    assert lost_roles(plan, {index["merger-1"]}) == ["merger-1"]  # its partition has no merger
    assert lost_roles(plan, {index["tiler-0"], index["tiler-1"]}) == ["tiler"]
    assert lost_roles(plan, {index["projector-0"]}) == ["projector"]
