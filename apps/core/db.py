"""Database helpers shared by the apps' services."""

from __future__ import annotations

from django.db import connection


def update_rows(model, field_names: list[str], objs) -> None:
    """UPDATE each object's `field_names` by primary key, values adapted as Django would.

    One parameterised statement run for every row (psycopg pipelines executemany). Django's
    bulk_update builds a CASE expression per row and field, which cost more than the SQL.
    """
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    table = connection.ops.quote_name(model._meta.db_table)
    sets = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)
    sql = f"UPDATE {table} SET {sets} WHERE {connection.ops.quote_name(pk.column)} = %s"
    params = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
        + [pk.get_db_prep_value(obj.pk, connection)]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
