"""Journeys from the warehouse: each converting or non-converting contact's (or
account's) touches before its conversion, within the lookback, as label paths, in
the engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fullfunnel._dates import SECONDS_PER_DAY, literal
from fullfunnel.analytics.attribution.paths import NO_LABEL, Paths, check_options
from fullfunnel.analytics.attribution.touches import SEP, remember_touches, touches_from_codes
from fullfunnel.config import Config
from fullfunnel.lifecycle import reached, timeline
from fullfunnel.result import count
from fullfunnel.warehouse import Warehouse


def journey_paths(
    wh: Warehouse,
    config: Config,
    *,
    conversion: str,
    by: str = "channel",
    level: str = "contact",
    value: str = "count",
    lookback_days: float,
    as_of: datetime,
    since: datetime | None = None,
    with_days: bool = False,
) -> Paths:
    """Build every journey in the engine and return its distinct paths.

    Conversions count when the stage was reached in ``[since, as_of]``.
    """
    check_options(config, conversion=conversion, by=by, level=level, value=value)
    key = "contact_id" if level == "contact" else "account_id"
    ends = journey_ends(wh, config, key=key, conversion=conversion, as_of=as_of)
    if since is not None:
        ends = ends.filter(ends.conv_at.isnull() | (ends.conv_at >= literal(since)))
    ends = _with_value(wh, ends, key=key, value=value, as_of=as_of)

    names, labels = _labels(wh, key=key, by=by, as_of=as_of)
    width = 1  # digits per code: codes + 10**(width-1) all have width digits
    while len(names) - 1 >= 9 * 10 ** (width - 1):
        width += 1
    build = _per_journey_nested if wh.nested_types else _per_journey_flat
    window_s = lookback_days * SECONDS_PER_DAY
    per = build(_Journeys(wh, ends, labels, key, by, as_of, width, window_s, with_days))
    groups = ["path", "lead_pos", "opp_pos", "won_pos", *(["days"] if with_days else [])]
    agg = per.group_by(groups).aggregate(
        conversions=per.count(where=per.converted),
        value=per.value.sum(where=per.converted),
        nulls=per.count(where=~per.converted),
    )
    # most converting first, then by path: the codes rank labels by name, so their
    # fixed-width text sorts as the label text does, and is shorter to compare. Sorted
    # by the engine, in parallel, on every group column (a total order): the same rows
    # in the same order on every engine
    order = [ibis.desc("conversions"), ibis.desc("nulls"), *groups]
    table = agg.order_by(order).to_pyarrow()
    codes, lengths = _decode(table["path"], width)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int64())
    labels = pa.array(names, pa.large_string()).take(codes)
    text = pc.binary_join(
        pa.LargeListArray.from_arrays(offsets, labels), pa.scalar(SEP, pa.large_string())
    )
    table = table.set_column(table.schema.get_field_index("path"), "path", text)
    frame = table.to_pandas()
    frame["value"] = frame["value"].fillna(0.0).astype(float)
    for col in ("conversions", "nulls"):
        frame[col] = frame[col].astype(float)
    for col in ("lead_pos", "opp_pos", "won_pos"):
        frame[col] = frame[col].astype(np.int64)
    order_cols = ["path", "conversions", "value", "nulls", "lead_pos", "opp_pos", "won_pos"]
    frame = frame[order_cols + (["days"] if with_days else [])]

    # conversions with no touch in the window, so the result can say what it leaves
    # out: every conversion less those the paths hold (one small aggregate, no join)
    conv = ends.filter(ends.conv_at.notnull())
    tot = conv.aggregate(n=conv.count(), v=conv.value.sum()).execute()
    all_n = float(count(tot["n"].iloc[0]))
    all_v = 0.0 if pd.isna(tot["v"].iloc[0]) else float(tot["v"].iloc[0])
    missed_v = all_v - float(frame["value"].sum())
    paths = Paths(
        frame.reset_index(drop=True),
        timed=with_days,
        unattributed=all_n - float(frame["conversions"].sum()),
        unattributed_value=missed_v if abs(missed_v) > 1e-9 * max(abs(all_v), 1.0) else 0.0,
    )
    remember_touches(paths, touches_from_codes(codes, lengths, names))
    return paths


def _touchpoints(wh: Warehouse, *, key: str, by: str, as_of: datetime) -> ir.Table:
    """Each touch up to ``as_of`` with its journey's ``key``, time and ``label``."""
    tp = wh.table("touchpoints")
    if key == "account_id":
        contacts = wh.table("contacts").select("contact_id", _acc="account_id")
        tp = tp.left_join(contacts, "contact_id")
        tp = tp.mutate(account_id=tp.account_id.coalesce(tp._acc))
    tp = tp.select(key, "ts", label=tp[by].cast("string").fill_null(NO_LABEL))
    return tp.filter(tp.ts <= literal(as_of), tp[key].notnull())


_READS = ("touchpoints", "contacts")


def _labels(wh: Warehouse, *, key: str, by: str, as_of: datetime) -> tuple[np.ndarray, ir.Table]:
    """The label names, and the table of each label's ``code`` (its rank by name).

    Labels travel as small integers, so the journeys are cheap to sort and the
    paths short to group; the names come back in Python. Materialised once per
    warehouse, breakdown, level and date.
    """

    def build() -> ir.Table:
        labels = _touchpoints(wh, key=key, by=by, as_of=as_of).select("label").distinct()
        return labels.mutate(code=ibis.row_number().over(order_by=labels.label))

    labels = wh.shared(("attribution", key, by, as_of, "labels"), build, reads=_READS)
    names = labels.order_by("code").execute()["label"].astype(str).to_numpy(dtype=object)
    return names, labels


def _journey_touches(
    wh: Warehouse, labels: ir.Table, *, key: str, by: str, as_of: datetime
) -> ir.Table:
    """Per journey its touches up to ``as_of`` in time order, and its latest touch.

    Each touch is a struct ``(ts, code)``: sorting the collected list orders the
    journey by time, then label, with no window function. (A tie-break on the
    ``touchpoint_id`` text made the lists 2.4× slower to build at 100M touches.)
    Materialised once per warehouse, breakdown, level and date and shared by every
    attribution asking for it (a model comparison after a single model, say).
    """

    def build() -> ir.Table:
        tp = _touchpoints(wh, key=key, by=by, as_of=as_of).join(labels, "label")
        touch = ibis.struct({"ts": tp.ts, "code": tp.code})
        per = tp.group_by(key).aggregate(_touches=touch.collect(), _last=tp.ts.max())
        return per.mutate(_touches=per._touches.sort())

    return wh.shared(("attribution", key, by, as_of, "journeys"), build, reads=_READS)


@dataclasses.dataclass(frozen=True)
class _Journeys:
    """What both builders of the per-journey rows read: the journeys' ends (with
    value), the label codes, the level's key, the breakdown, the date, the digits per
    code, the lookback in seconds and whether touch ages are wanted."""

    wh: Warehouse
    ends: ir.Table
    labels: ir.Table
    key: str
    by: str
    as_of: datetime
    width: int
    window_s: float
    with_days: bool


def in_lookback(ts: ir.TimestampValue, j: ir.Table, window_s: float) -> ir.BooleanValue:
    """Whether a touch at ``ts`` is in its journey's window (``j``: its ``conv_at`` and
    latest touch ``_last``). A converting journey keeps the touches strictly before
    the conversion and at most the lookback before it; one that has not converted,
    those at most the lookback before its latest touch."""
    ts_s = ts.epoch_seconds()
    return ibis.ifelse(
        j.conv_at.notnull(),
        (ts < j.conv_at) & (j.conv_at.epoch_seconds() - ts_s <= window_s),
        j._last.epoch_seconds() - ts_s <= window_s,
    )


def _age_days(ts: ir.TimestampValue, j: ir.Table) -> ir.StringValue:
    """Whole days from a touch at ``ts`` to its journey's conversion, as text."""
    days = (j.conv_at.epoch_seconds() - ts.epoch_seconds()) / SECONDS_PER_DAY
    return days.floor().cast("int64").cast("string")


def _per_journey_nested(q: _Journeys) -> ir.Table:
    """One row per journey (path, converted, value, anchor positions, days), from each
    journey's sorted list of touches: engines with arrays of structs."""
    journeys = _journey_touches(q.wh, q.labels, key=q.key, by=q.by, as_of=q.as_of)
    j = journeys.join(q.ends, q.key)
    j = j.mutate(_kept=j._touches.filter(lambda x: in_lookback(x.ts, j, q.window_s)))
    j = j.filter(j._kept.length() > 0)
    kept = j._kept
    cols = {
        # codes of one fixed width, side by side: Python reads them without parsing
        "path": kept.map(lambda x: (x.code + 10 ** (q.width - 1)).cast("string")).join(""),
        "converted": j.conv_at.notnull(),
        "value": j.value,
    }
    # the touches are in time order, so the last touch at or before a moment is at
    # position (number of touches at or before it) - 1, and -1 when there is none;
    # anchors matter only to converting journeys, -1 elsewhere keeps paths together
    for anchor, before in _ANCHORS:
        cols[anchor] = ibis.ifelse(
            j.conv_at.notnull(),
            kept.filter(_on_touch(before, j)).length().fill_null(0) - 1,
            -1,
        )
    if q.with_days:
        days = kept.map(lambda x: _age_days(x.ts, j)).join(",")
        cols["days"] = ibis.ifelse(j.conv_at.notnull(), days, "")
    return j.select(**cols)


def _per_journey_flat(q: _Journeys) -> ir.Table:
    """The rows of :func:`_per_journey_nested` from plain SQL: the touches in their
    window, grouped per journey with their text aggregated in time order (then by
    label, as the sorted lists are). For engines without arrays of structs
    (Postgres)."""
    key = q.key
    tp = _touchpoints(q.wh, key=key, by=q.by, as_of=q.as_of).join(q.labels, "label")
    last = tp.group_by(key).aggregate(_last=tp.ts.max())
    t = tp.join(q.ends, key).join(last, key)
    t = t.filter(in_lookback(t.ts, t, q.window_s))
    order = [t.ts, t.code]
    anchors = ["lead_at", "opp_at", "won_at"]
    aggs: dict[str, ir.Value] = {
        "path": (t.code + 10 ** (q.width - 1)).cast("string").group_concat("", order_by=order),
    }
    for anchor, before in _ANCHORS:
        aggs[anchor] = t.count(where=before(t.ts, t))
    if q.with_days:
        aggs["days"] = _age_days(t.ts, t).group_concat(",", order_by=order)
    per = t.group_by([key, "conv_at", "value", *anchors]).aggregate(**aggs)
    cols: dict[str, ir.Value] = {
        "path": per.path,
        "converted": per.conv_at.notnull(),
        "value": per.value,
    }
    for anchor, _ in _ANCHORS:
        cols[anchor] = ibis.ifelse(per.conv_at.notnull(), per[anchor] - 1, -1)
    if q.with_days:
        cols["days"] = ibis.ifelse(per.conv_at.notnull(), per.days, "")
    return per.select(**cols)


# each anchor's touch: the last at or before (lead) or strictly before (opportunity,
# won) the journey's moment of that stage
_ANCHORS = (
    ("lead_pos", lambda ts, j: ts <= j.lead_at),
    ("opp_pos", lambda ts, j: ts < j.opp_at),
    ("won_pos", lambda ts, j: ts < j.won_at),
)


def _on_touch(
    before: Callable[..., ir.BooleanValue], j: ir.Table
) -> Callable[..., ir.BooleanValue]:
    """An anchor's test on one touch of a journey's list."""
    return lambda x: before(x.ts, j)


def _decode(paths: pa.ChunkedArray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each touch's label code, and each path's length, from fixed-width code text.

    ``width`` digits per touch, each code plus ``10**(width-1)``: the text bytes
    reshape into a digit matrix, so nothing is split or parsed string by string.
    """
    arr = pc.cast(paths, pa.large_string()).combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data = arr.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    digits = raw[offsets[0] : offsets[-1]].reshape(-1, width)
    codes = np.zeros(digits.shape[0], dtype=np.int64)
    for j in range(width):  # a column of digits at a time: no wide temporary matrix
        codes *= 10
        codes += digits[:, j]
    codes -= ord("0") * (10**width - 1) // 9 + 10 ** (width - 1)
    return codes, np.diff(offsets) // width


def journey_ends(
    wh: Warehouse, config: Config, *, key: str, conversion: str, as_of: datetime
) -> ir.Table:
    """Per journey: when it converted (or null) and the stage times of its anchors."""
    tl = timeline(wh, config, as_of=as_of)
    names = config.stage_names
    upto = names[: config.index(conversion) + 1]

    def anchor(stage: str) -> ir.TimestampValue:
        # an anchor exists only for stages up to the conversion itself
        return tl[reached(stage)] if stage in upto else ibis.null("timestamp")

    cols = {
        "conv_at": tl[reached(conversion)],
        "lead_at": tl[reached(names[0])],
        "opp_at": anchor(config.opportunity_stage),
        "won_at": anchor(config.won_stage),
    }
    if key == "contact_id":
        return tl.select("contact_id", **cols)
    contacts = wh.table("contacts").select("contact_id", "account_id")
    both = tl.select("contact_id", **cols).join(contacts, "contact_id")
    both = both.filter(both.account_id.notnull())
    return both.group_by("account_id").aggregate(**{c: both[c].min() for c in cols})


def _with_value(
    wh: Warehouse, ends: ir.Table, *, key: str, value: str, as_of: datetime
) -> ir.Table:
    """Add ``value``: 1 per conversion, or the journey's opportunity or won amount."""
    if value == "count":
        # a cast, not 1.0: Postgres reads a decimal literal as NUMERIC
        return ends.mutate(value=ibis.literal(1).cast("float64"))
    opp = wh.table("opportunities")
    opp = opp.filter(opp.created_at <= literal(as_of), opp[key].notnull())
    if value == "bookings":
        opp = opp.filter(opp.status == "won", opp.close_date <= literal(as_of))
    amounts = opp.group_by(key).aggregate(_amount=opp.amount.sum())
    joined = ends.left_join(amounts, key)
    joined = joined.drop(f"{key}_right") if f"{key}_right" in joined.columns else joined
    return joined.mutate(value=joined._amount.fill_null(0.0).cast("float64")).drop("_amount")
