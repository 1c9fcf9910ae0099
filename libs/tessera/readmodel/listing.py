"""The workflow list's query, built as SQL from validated options (pure: no connection here).

Search (`q`: a workflow id, a prefix of one as the UI shows them, or a piece of the name, any
case), a state, a time range of submission, and a sort (created, name or state, either way,
ties broken by id) with keyset pagination: the cursor holds the sort key of the last row, so a
page costs the same wherever it is and rows added meanwhile are neither repeated nor skipped.
Every query is the tenant's; the indexes on (tenant, submitted_at), (tenant, lower(name))
and (tenant, state, submitted_at) serve the sorts. A name search scans the tenant's rows in the
chosen order (a trigram index is the step when one tenant holds very many workflows).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

Sort = Literal["created", "name", "state"]
Order = Literal["asc", "desc"]
DEFAULT_ORDER: dict[Sort, Order] = {"created": "desc", "name": "asc", "state": "asc"}
# names sort without regard to case, in the same order on every server (not its locale's)
NAME_KEY = 'lower(name) COLLATE "C"'


class BadCursor(ValueError):
    """A cursor this module did not make, or one made for another sort."""


@dataclass(frozen=True)
class WorkflowQuery:
    limit: int
    state: str | None = None
    q: str | None = None
    sort: Sort = "created"
    order: Order | None = None  # None: the sort's natural order (newest, A-Z, state A-Z)
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    cursor: str | None = None

    @property
    def direction(self) -> Order:
        return self.order or DEFAULT_ORDER[self.sort]

    def order_by(self) -> list[tuple[str, bool]]:
        """The ORDER BY columns, each with whether it runs descending."""
        desc = self.direction == "desc"
        if self.sort == "created":
            return [("submitted_at", desc), ("workflow_id", desc)]
        if self.sort == "name":
            return [(NAME_KEY, desc), ("workflow_id", desc)]
        return [("state", desc), ("submitted_at", True), ("workflow_id", True)]  # newest first


def build(query: WorkflowQuery, tenant_id: UUID, columns: str) -> tuple[str, list[Any]]:
    """The SQL and its arguments for one page (one row more than `limit`: is there a next?)."""
    args: list[Any] = [tenant_id]
    where = ["tenant_id = $1"]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.state:
        where.append(f"state = {arg(query.state)}")
    if query.submitted_after is not None:
        where.append(f"submitted_at >= {arg(query.submitted_after)}")
    if query.submitted_before is not None:
        where.append(f"submitted_at < {arg(query.submitted_before)}")
    if query.q:
        where.append(_search(query.q.strip(), arg))
    keys = query.order_by()
    if query.cursor:
        values = decode_cursor(query.cursor, query)
        where.append(_after(keys, [arg(v) for v in values]))
    order = ", ".join(f"{col} {'DESC' if desc else 'ASC'}" for col, desc in keys)
    sql = (
        f"SELECT {columns} FROM workflows WHERE {' AND '.join(where)} "
        f"ORDER BY {order} LIMIT {arg(query.limit + 1)}"
    )
    return sql, args


def _search(q: str, arg: Any) -> str:
    try:
        return f"workflow_id = {arg(UUID(q))}"
    except ValueError:
        pass
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"(name ILIKE {arg(f'%{like}%')} OR workflow_id::text LIKE {arg(like.lower() + '%')})"


def _after(keys: list[tuple[str, bool]], values: list[str]) -> str:
    """Rows after the cursor in the sort order: (k1 > v1) OR (k1 = v1 AND k2 > v2) OR ..."""
    terms = []
    for i, (col, desc) in enumerate(keys):
        equal = [f"{keys[j][0]} = {values[j]}" for j in range(i)]
        terms.append(" AND ".join([*equal, f"{col} {'<' if desc else '>'} {values[i]}"]))
    return "(" + " OR ".join(f"({t})" for t in terms) + ")"


def encode_cursor(row: dict[str, Any], query: WorkflowQuery) -> str:
    """The cursor after `row`: its sort key, and which sort it belongs to."""
    values = [
        row["name"].lower() if col == NAME_KEY else _plain(row[col]) for col, _ in query.order_by()
    ]
    raw = json.dumps({"sort": f"{query.sort}:{query.direction}", "after": values})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query: WorkflowQuery) -> list[Any]:
    """The sort key a cursor holds, typed for its columns; BadCursor if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if raw["sort"] != f"{query.sort}:{query.direction}":
            raise BadCursor("the cursor was made for another sort")
        keys = query.order_by()
        if len(raw["after"]) != len(keys):
            raise BadCursor("not a cursor of this list")
        return [_typed(col, v) for (col, _), v in zip(keys, raw["after"], strict=True)]
    except BadCursor:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise BadCursor("not a cursor of this list") from exc


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _typed(column: str, value: str) -> Any:
    if column == "submitted_at":
        return datetime.fromisoformat(value)
    if column == "workflow_id":
        return UUID(value)
    if not isinstance(value, str):
        raise TypeError(column)
    return value
