"""The dependency rule, checked: ``alerts`` never imports the app or a web/database framework,
and only the channels (the I/O edge) look at a clock."""

import ast
from pathlib import Path

import pytest

ALERTS = Path(__file__).resolve().parents[2] / "alerts"
SOURCES = sorted(ALERTS.rglob("*.py"))
FORBIDDEN_IMPORTS = ("ecopatrol", "fastapi", "starlette", "sqlalchemy", "apscheduler")
CLOCK_CALLS = {"time", "time_ns", "monotonic", "perf_counter", "now", "utcnow", "today"}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_there_are_sources_to_check() -> None:
    assert len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ALERTS)))
def test_alerts_does_not_import_the_app(path: Path) -> None:
    bad = [n for n in _imports(ast.parse(path.read_text("utf-8")))
           if n.split(".")[0] in FORBIDDEN_IMPORTS]
    assert bad == []


@pytest.mark.parametrize("path", [p for p in SOURCES if "channels" not in p.parts],
                         ids=lambda p: str(p.relative_to(ALERTS)))
def test_no_clock_outside_the_channels(path: Path) -> None:
    calls = [f"{node.func.value.id}.{node.func.attr}"  # type: ignore[union-attr]
             for node in ast.walk(ast.parse(path.read_text("utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr in CLOCK_CALLS and isinstance(node.func.value, ast.Name)]
    assert calls == []
