"""Database helpers shared by the apps' services."""

from __future__ import annotations

import functools
import json
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, connection, models
from psycopg.types.json import Jsonb

from .exceptions import InvalidInput

RACED_WRITE = "Conflicts with data written at the same time; reload and try again."


@contextmanager
def duplicates_refused() -> Iterator[None]:
    """A unique constraint lost to a concurrent write of the same data is the caller's 400.

    The form or serializer checked uniqueness, but another request may have written the same
    name between that check and our INSERT. Wrap a block that opens its own transaction (or
    savepoint), so the failed statement is rolled back before the error goes up; usable as a
    decorator on a service.
    """
    try:
        yield
    except IntegrityError as exc:
        raise InvalidInput(RACED_WRITE, fields={"non_field_errors": [RACED_WRITE]}) from exc


# Rows per statement in update_rows on PostgreSQL (parameters stay far below any limit).
UPDATE_CHUNK = 1000


def update_rows(model, field_names: list[str], objs) -> None:
    """UPDATE each object's `field_names` by primary key, values adapted as Django would.

    On PostgreSQL, one `UPDATE … FROM (VALUES …)` for the lot (per 1,000 rows): the server
    parses, plans and runs one statement instead of one per row, which was most of the cost
    of the assignment engine's writes. Elsewhere, one parameterised statement run for every
    row. Django's bulk_update builds a CASE expression per row and field, which cost more
    than the SQL.
    """
    objs = list(objs)
    if not objs:
        return
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    params = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
        + [pk.get_db_prep_value(obj.pk, connection)]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            sets = ", ".join(f"{qn(f.column)} = %s" for f in fields)
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE {qn(pk.column)} = %s", params)
            return
        # The VALUES columns get their types from the literals; each is cast to its column's
        # type, so a column that is NULL in every row (text to PostgreSQL) still fits.
        names = [f"c{i}" for i in range(len(fields))] + ["pk"]
        sets = ", ".join(f"{qn(f.column)} = v.c{i}::{f.cast_db_type(connection)}"
                         for i, f in enumerate(fields))
        row = "(" + ", ".join(["%s"] * len(names)) + ")"
        for start in range(0, len(params), UPDATE_CHUNK):
            chunk = params[start:start + UPDATE_CHUNK]
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row] * len(chunk))}) "
                f"AS v({', '.join(names)}) "
                f"WHERE {table}.{qn(pk.column)} = v.pk::{pk.cast_db_type(connection)}",
                [value for values in chunk for value in values],
            )


# Field classes whose Python values psycopg adapts as Django would store them: no conversion.
_AS_IS = (models.UUIDField, models.DateTimeField, models.IntegerField, models.BooleanField,
          models.ForeignKey)


def _to_text(value):
    # Django's CharField stores str(value): a TextChoices member as its value.
    return value if value is None or type(value) is str else str(value)


def _to_json(field, value):
    # As Django stores it: None is SQL NULL in a nullable column, JSON null otherwise.
    if value is None and field.null:
        return None
    return Jsonb(value, dumps=functools.partial(json.dumps, cls=field.encoder))


@functools.cache
def _insert_plan(model) -> tuple[str, list[str], Callable, list[tuple[int, Callable]]]:
    """(table, columns, getter of every value as a tuple, converters by position)."""
    fields = [f for f in model._meta.concrete_fields
              if not (f.primary_key and isinstance(f, models.AutoField))]
    converters = []
    for i, f in enumerate(fields):
        if isinstance(f, models.JSONField):
            converters.append((i, functools.partial(_to_json, f)))
        elif isinstance(f, (models.CharField, models.TextField)):
            converters.append((i, _to_text))
        elif not isinstance(f, _AS_IS):
            converters.append((i, lambda v, f=f: f.get_db_prep_save(v, connection)))
    getter = operator.attrgetter(*(f.attname for f in fields))
    return model._meta.db_table, [f.column for f in fields], getter, converters


def insert_rows(model, objs: Sequence) -> None:
    """INSERT the objects as they stand: one INSERT for a row, COPY for more (PostgreSQL).

    For the writes that create tasks, where Django's bulk_create cost more CPU than the
    database spent storing the rows (it compiles, prepares and adapts each value in Python;
    COPY adapts them in psycopg's C code and PostgreSQL parses no statement). Values are
    taken from the objects as they are: pre_save() is not called, so the caller sets what
    auto_now / auto_now_add would. An auto-incremented primary key is left to the database
    and not read back. Other databases get bulk_create.
    """
    insert_rows_together([(model, objs)])


def insert_rows_together(batches: Sequence[tuple[Any, Sequence]]) -> None:
    """insert_rows for each (model, objects) in turn; one row each goes in one statement.

    A single task and its history row are then one round trip, not two: PostgreSQL runs
    every INSERT of a WITH clause, read or not. Foreign keys between the rows are checked at
    commit (Django's constraints are DEFERRABLE INITIALLY DEFERRED), so the order is free.
    """
    batches = [(model, objs) for model, objs in batches if objs]
    if not batches:
        return
    if connection.vendor != "postgresql":
        for model, objs in batches:
            model.objects.bulk_create(objs)
        return
    quote = connection.ops.quote_name
    singles, params = [], []
    with connection.cursor() as cursor:
        for model, objs in batches:
            table, columns, getter, converters = _insert_plan(model)
            rows = [_row(getter(obj), converters) for obj in objs]
            target = f"{quote(table)} ({', '.join(quote(c) for c in columns)})"
            if len(rows) == 1:
                singles.append(f"INSERT INTO {target} VALUES "
                               f"({', '.join(['%s'] * len(columns))})")
                params.extend(rows[0])
            else:
                _copy(cursor, f"COPY {target} FROM STDIN", rows)
        if singles:
            *first, last = singles
            with_ = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(first))
            cursor.execute(f"WITH {with_} {last}" if first else last, params)
    alias = connection.alias
    for _, objs in batches:
        for obj in objs:
            obj._state.adding = False
            obj._state.db = alias


def _row(values: tuple, converters) -> tuple | list:
    if not converters:
        return values
    row = list(values)
    for i, convert in converters:
        row[i] = convert(row[i])
    return row


def _copy(cursor, sql: str, rows: list) -> None:
    started = time.monotonic()
    # The psycopg cursor (Django's has no COPY), its errors made Django's (a unique violation
    # is an IntegrityError) as the wrapper does for execute().
    with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    if connection.queries_logged:  # seen by CaptureQueriesContext like any statement
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"})


def instance_factory(model, **fixed) -> Callable[..., models.Model]:
    """A maker of unsaved `model` instances, for building thousands at once (a batch create).

    make(**values) is model(**fixed, **values) by attname (task_type_id, not task_type),
    about twice as fast: it passes every field positionally (Django's fast path), with the
    defaults worked out once. A field whose default is callable (uuid4, now, dict) gets a
    fresh one per instance unless given, so no two instances share a mutable default.
    """
    fields = model._meta.concrete_fields
    index = {f.attname: i for i, f in enumerate(fields)}
    base = [fixed[f.attname] if f.attname in fixed else
            (None if callable(f.default) else f.get_default()) for f in fields]
    fresh = [(f.attname, i, f.get_default) for i, f in enumerate(fields)
             if callable(f.default) and f.attname not in fixed]

    def make(**values):
        args = base.copy()
        for name, i, default in fresh:
            if name not in values:
                args[i] = default()
        for name, value in values.items():
            args[index[name]] = value
        return model(*args)

    return make
