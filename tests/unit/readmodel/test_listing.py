"""The workflow list's query: search, filters, sorts and keyset cursors, as SQL (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tessera.readmodel.listing import BadCursor, WorkflowQuery, build, decode_cursor, encode_cursor

TENANT = uuid.UUID(int=7)
WID = uuid.UUID("0b7e4f7e-5c1a-4d6b-9a53-6f2f0d3c1a11")
AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
ROW = {"submitted_at": AT, "workflow_id": WID, "name": "slide 42", "state": "RUNNING"}


def sql_of(**options: object) -> tuple[str, list]:
    return build(WorkflowQuery(limit=10, **options), TENANT, "*")  # type: ignore[arg-type]


def test_the_default_is_the_tenants_newest_first_one_more_than_a_page() -> None:
    sql, args = sql_of()
    assert sql == (
        "SELECT * FROM workflows WHERE tenant_id = $1 "
        "ORDER BY submitted_at DESC, workflow_id DESC LIMIT $2"
    )
    assert args == [TENANT, 11]


def test_filters_search_and_time_range_are_arguments_never_sql() -> None:
    after, before = AT, AT.replace(year=2031)
    sql, args = sql_of(state="FAILED", q="50%_off", submitted_after=after, submitted_before=before)
    assert "state = $2 AND submitted_at >= $3 AND submitted_at < $4" in sql
    assert "(name ILIKE $5 OR workflow_id::text LIKE $6)" in sql
    assert args[1:6] == ["FAILED", after, before, "%50\\%\\_off%", "50\\%\\_off%"]
    by_id, args = sql_of(q=f" {WID} ")
    assert "workflow_id = $2" in by_id and args[1] == WID  # a whole id is an exact match
    _, args = sql_of(q="0B7E4F")
    assert args[2] == "0b7e4f%"  # ids are lower case: the start of one, as the UI shows it


@pytest.mark.parametrize(
    ("sort", "order", "expected"),
    [
        ("created", None, "submitted_at DESC, workflow_id DESC"),
        ("created", "asc", "submitted_at ASC, workflow_id ASC"),
        ("name", None, 'lower(name) COLLATE "C" ASC, workflow_id ASC'),
        ("name", "desc", 'lower(name) COLLATE "C" DESC, workflow_id DESC'),
        ("state", None, "state ASC, submitted_at DESC, workflow_id DESC"),
    ],
)
def test_each_sort_orders_by_its_key_then_the_id(sort: str, order: str, expected: str) -> None:
    sql, _ = sql_of(sort=sort, order=order)
    assert f"ORDER BY {expected} LIMIT" in sql


def test_a_cursor_continues_after_the_last_row_in_the_sorts_order() -> None:
    query = WorkflowQuery(limit=10, sort="state")
    cursor = encode_cursor(ROW, query)
    assert decode_cursor(cursor, query) == ["RUNNING", AT, WID]
    sql, args = build(WorkflowQuery(limit=10, sort="state", cursor=cursor), TENANT, "*")
    assert (
        "((state > $2) OR (state = $2 AND submitted_at < $3) "
        "OR (state = $2 AND submitted_at = $3 AND workflow_id < $4))"
    ) in sql
    assert args == [TENANT, "RUNNING", AT, WID, 11]


def test_a_name_cursor_holds_the_name_as_it_sorts() -> None:
    query = WorkflowQuery(limit=10, sort="name")
    assert decode_cursor(encode_cursor(ROW | {"name": "Slide 42"}, query), query) == [
        "slide 42",
        WID,
    ]


def test_a_cursor_of_another_sort_or_not_ours_is_refused() -> None:
    by_name = encode_cursor(ROW, WorkflowQuery(limit=10, sort="name"))
    with pytest.raises(BadCursor, match="another sort"):
        decode_cursor(by_name, WorkflowQuery(limit=10, sort="name", order="desc"))
    for junk in ("nope", "e30", encode_cursor(ROW, WorkflowQuery(limit=1))[:-4]):
        with pytest.raises(BadCursor):
            decode_cursor(junk, WorkflowQuery(limit=10))
