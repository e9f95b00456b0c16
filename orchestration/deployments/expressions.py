"""Database functions over timestamps, for the tick, the charts and a generated column.

At the bottom of the import graph (Django only), so models and migrations can use them.
"""

from __future__ import annotations

from django.db.models import FloatField, Func

from orchestration.autoscaling.buckets import BUCKET_SECONDS


class Epoch(Func):
    """Seconds since 1970 as a float, computed by the database.

    Parsing tens of thousands of timestamps in Python costs more than the whole tick.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        # date_part is double precision; EXTRACT is numeric (PostgreSQL 14+), which
        # arrives as Decimal and is several times slower to compute.
        return self.as_sql(compiler, connection, template="date_part('epoch', %(expressions)s)")

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        )


class BucketEnd(Func):
    """`buckets.bucket_end` of a timestamp (5-second buckets), computed by the database.

    Immutable, so it can define a stored generated column: on PostgreSQL the epoch of a
    timestamptz depends on the session's time zone as far as the planner knows, so the
    timestamp is read in UTC first.
    """

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        # date_part is double precision; EXTRACT is numeric (PostgreSQL 14+).
        template = (
            "(CEIL(ROUND(date_part('epoch', (%(expressions)s AT TIME ZONE 'UTC')) * 1000.0)"
            f" / {BUCKET_SECONDS * 1000}) * {BUCKET_SECONDS})"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        x = f"(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400.0, 3) / {BUCKET_SECONDS})"
        # SQLite may lack CEIL: integer part, plus one when there is a fraction.
        template = f"((CAST({x} AS INTEGER) + ({x} > CAST({x} AS INTEGER))) * {BUCKET_SECONDS})"
        return self.as_sql(compiler, connection, template=template, **extra)
