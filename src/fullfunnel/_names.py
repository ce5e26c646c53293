"""How a name is compared across tables: the one rule for "the same name"."""

from __future__ import annotations

import ibis.expr.types as ir


def name_key(name: ir.Value) -> ir.StringValue:
    """``name`` in lower case with letters and digits only: a deal's "GTXPro" and the
    product table's "GTX Pro" have one key."""
    return name.cast("string").lower().re_replace(r"[^0-9a-z]", "")
