"""Database helpers shared by the apps' services."""

from __future__ import annotations

from django.db import connection

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
