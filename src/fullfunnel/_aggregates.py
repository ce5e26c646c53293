"""Aggregates spelled the way the engines run them fastest."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def count_if(condition: ir.BooleanValue) -> ir.IntegerScalar:
    """How many rows meet ``condition`` (null counts as not).

    ``count(CASE WHEN condition THEN 1 END)``: the same number as
    ``count(*) FILTER (WHERE condition)`` (``table.count(where=…)``), which DuckDB
    runs two to three times slower when many such counts share one aggregation,
    and unlike ``sum(condition)`` it does not widen to a 128-bit accumulator.
    """
    return ibis.ifelse(condition, 1, ibis.null("int8")).count()
