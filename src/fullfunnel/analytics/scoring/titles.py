"""A job title read as seniority (a level) and function, by word patterns every engine
matches alike."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np

# Whole words by a boundary every engine reads alike (Postgres has no \b): the title
# is lowercased, so a word is bounded by the text's ends or by anything but a-z, 0-9, _.
_START, _END = r"(^|[^a-z0-9_])", r"([^a-z0-9_]|$)"


def _words(alternatives: str) -> str:
    return f"{_START}({alternatives}){_END}"


SENIORITY = (  # level, label, pattern (first match wins)
    (5, "C-level", _words("chief|ceo|cfo|cmo|cro|cto|coo|cio|president|founder|owner")),
    (4, "VP", _words("vp|svp|evp|vice president")),
    (3, "director", _words("director|head")),
    (2, "manager", _words("manager|lead|principal")),
    (0, "student", _words("student|intern|trainee")),
    (
        1,
        "individual-contributor",
        f"{_START}(analyst|specialist|associate|coordinator|engineer|consultant|rep)",
    ),
)


FUNCTION = (
    ("sales", f"(sales|revenue|business development|account exec|{_words('bdr|sdr')})"),
    ("marketing", f"(marketing|growth|demand|brand|content|{_words('cmo')})"),
    ("operations", f"(operations|{_words('ops|coo')})"),
    ("technology", f"(engineer|developer|technology|data|{_words('it|cto|cio')})"),
    ("finance", f"(finance|accounting|{_words('cfo')})"),
    ("executive", f"(founder|president|owner|{_words('ceo')})"),
)


SENIORITY_LABELS = {level: label for level, label, _ in SENIORITY}


def title_level(title: ir.StringValue) -> ir.IntegerValue:
    t = title.lower()
    return ibis.cases(*[(t.re_search(p), level) for level, _, p in SENIORITY], else_=None)


def title_function(title: ir.StringValue) -> ir.StringValue:
    t = title.lower()
    return ibis.cases(*[(t.re_search(p), name) for name, p in FUNCTION], else_="other")


def seniority_label(level: float) -> str | None:
    if level is None or (isinstance(level, float) and np.isnan(level)):
        return None
    return SENIORITY_LABELS.get(int(level))
