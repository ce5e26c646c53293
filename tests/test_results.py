"""The result classes a notebook user reaches: every one exported, typed, tabular."""

from __future__ import annotations

import ast
from pathlib import Path

import fullfunnel as ff
from fullfunnel import results
from fullfunnel.analytics.registry import ANALYSES

SRC = Path(__file__).parents[1] / "src" / "fullfunnel"


def _result_classes() -> set[str]:
    """Every class in src/ that derives from Result directly."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id == "Result" for b in node.bases
            ):
                found.add(node.name)
    return found


def test_every_result_class_is_exported_from_fullfunnel_results():
    defined = _result_classes()
    assert defined, "no result classes found"
    assert defined <= set(results.__all__), defined - set(results.__all__)
    for name in defined:
        cls = getattr(results, name)
        assert issubclass(cls, results.Result) and cls.__name__ == name
        assert getattr(ff, name) is cls


def test_every_registered_result_type_is_one_of_them():
    for analysis in ANALYSES.values():
        cls = analysis.result_type()
        assert getattr(results, cls.__name__) is cls


def test_a_result_gives_pandas_and_arrow():
    wh = ff.connect("duckdb://:memory:")
    ff.generate_demo(wh, contacts=500, seed=2)
    result = ff.funnel(wh)
    assert isinstance(result, results.FunnelResult)
    frame = result.to_pandas()
    table = result.to_arrow()
    assert list(frame.columns) == table.column_names and len(frame) == table.num_rows > 0


def test_type_checkers_see_every_exported_class():
    """The lazy exports are also imported under TYPE_CHECKING (as re-exports), so an
    editor or mypy resolves ``fullfunnel.results.FunnelResult``."""
    tree = ast.parse((SRC / "results.py").read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    seen = {a.asname for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert seen == set(results.__all__) - {"Result"}
