"""Feature rows as the model reads them: fetched from the engine in one piece or a
batch at a time, with each column's type fixed (categories as text, the rest as
floats)."""

from __future__ import annotations

from collections.abc import Iterator

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

# Columns that are never model inputs: identity, display text, label and cut-off.
DISPLAY_ONLY = ("contact_id", "title", "label", "cutoff")


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Model inputs that are categories: text columns other than the display ones."""
    return [
        c
        for c in frame.columns
        if c not in DISPLAY_ONLY
        and (frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]))
    ]


_NUMERIC_TYPES = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_decimal,
)


def feature_frame(expr: ir.Table) -> pd.DataFrame:
    """Execute a feature table into pandas, in a stable row order (by cut-off, then
    contact): numbers and booleans as float64, text as objects with None for missing.

    Sorted and cast in Arrow, then converted in one pass (converting and stacking
    column by column in pandas took longer than the query at a million leads). An
    ORDER BY in the engine took as long and raised scoring's peak memory (the run's)
    by 530 MB at a million contacts.
    """
    # sorted as fetched: concatenating the chunks first costs a copy of the table
    table = expr.to_pyarrow().sort_by([("cutoff", "ascending"), ("contact_id", "ascending")])
    return _to_frame(table)


def feature_batches(expr: ir.Table, rows: int) -> Iterator[pd.DataFrame]:
    """Execute a feature table into pandas frames of at most ``rows`` rows each, as
    :func:`feature_frame` converts them but in the engine's row order: a caller that
    keeps a few columns of each holds one batch of every feature at a time, however
    many contacts the company has."""
    for batch in expr.to_pyarrow_batches(chunk_size=rows):
        if batch.num_rows:
            yield _to_frame(pa.Table.from_batches([batch]))


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Feature rows as pandas: numbers and booleans float64, text objects or None."""
    as_float = {
        f.name
        for f in table.schema
        if f.name not in DISPLAY_ONLY and any(is_(f.type) for is_ in _NUMERIC_TYPES)
    }
    schema = [f.with_type(pa.float64()) if f.name in as_float else f for f in table.schema]
    table = table.cast(pa.schema(schema))
    # column by column, each Arrow buffer released once converted: one copy at a time
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    for col in frame.columns:
        if col not in DISPLAY_ONLY and col not in as_float:
            values = frame[col]
            frame[col] = values.astype(object).where(values.notna(), None)
    return frame
