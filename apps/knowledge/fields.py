"""A vector column that is a real array where the database has one."""

from __future__ import annotations

import json

from django.db import models


class VectorField(models.Field):
    """A list of floats: `double precision[]` on PostgreSQL (what ArrayField(FloatField())
    makes), JSON text on SQLite. One field rather than a choice of two keeps one migration
    for both databases. pgvector would index it for nearest-neighbour search; this server
    has no such extension, so search ranks the candidates itself (apps.knowledge.selectors).
    """

    description = "A vector of floats"

    def db_type(self, connection):
        return "double precision[]" if connection.vendor == "postgresql" else "text"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        floats = [float(v) for v in value]
        return floats if connection.vendor == "postgresql" else json.dumps(floats)

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return value
