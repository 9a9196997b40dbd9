"""Bulk writes on PostgreSQL with COPY (psycopg2 ``copy_expert``): several times the rows per
second of multi-row INSERTs, for ingest's millions of samples and their index keys.

COPY returns no ids, so the ids of new rows are reserved from the table's sequence first
(``reserve_ids``) and written explicitly. Values go in COPY's text format (tab-separated,
backslash escapes, ``\\N`` for NULL, ``\\x``-hex for bytes)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_supported() -> bool:
    return connection.vendor == "postgresql"


def copy_value(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, int | float):
        return str(value)
    return str(value).translate(_ESCAPES)


def analyze(*tables: str) -> None:
    """Refresh PostgreSQL's planner statistics of ``tables`` after a bulk load (a no-op
    elsewhere). Until autovacuum gets to them, a table that grew by millions of rows is
    planned as if still small: index lookups turn into parallel sequential scans."""
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(quote(table) for table in tables)}")


def reserve_ids(*, model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys from the table's id sequence (PostgreSQL)."""
    if count == 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(*, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into ``table`` (in the caller's transaction); returns how many."""
    quote = connection.ops.quote_name
    sql = (
        f"COPY {quote(table)} ({', '.join(quote(column) for column in columns)}) "
        "FROM STDIN WITH (FORMAT text)"
    )
    count = 0
    buffer = io.StringIO()
    with connection.cursor() as cursor:
        for row in rows:
            buffer.write("\t".join(copy_value(value) for value in row))
            buffer.write("\n")
            count += 1
        buffer.seek(0)
        cursor.copy_expert(sql, buffer)
    return count


def copy_models(objs: Sequence[models.Model]) -> int:
    """COPY model instances whose primary keys are set (see ``reserve_ids``): every concrete
    column, as ``bulk_create`` would write it."""
    if not objs:
        return 0
    meta = objs[0]._meta
    fields = [field for field in meta.concrete_fields if not field.generated]
    if any(obj.pk is None for obj in objs):
        raise ValueError("copy_models needs primary keys: reserve them with reserve_ids")
    for obj in objs:  # pre_save fills auto_now fields and the like, as save() would
        for field in fields:
            setattr(obj, field.attname, field.pre_save(obj, add=True))
    return copy_rows(
        table=meta.db_table,
        columns=[field.column for field in fields],
        rows=([_prep(field, getattr(obj, field.attname)) for field in fields] for obj in objs),
    )


def _prep(field: models.Field, value: Any) -> Any:
    if isinstance(field, models.JSONField):
        return None if value is None else json.dumps(value, cls=field.encoder)
    return field.get_prep_value(value)
