"""Who may use whom (docs/decisions/0007-boundaries.md), checked from the source's own imports.

A failure here means an import runs against the layering: move the code rather than widen
the allow-lists below.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("collect", "store", "lake", "export", "privacy")
SHARED = {"chalicelib.settings", "chalicelib.errors", "chalicelib.clients"}  # anyone in chalicelib may use these

# package -> the packages of chalicelib it may import (besides itself and SHARED)
MAY_USE: dict[str, set[str]] = {
    "store": set(),
    # Storage failures are classified once, in store/retry.py; the lake's S3 wrapper uses that triage.
    "lake": {"chalicelib.store.retry"},
    # collect encodes the lake row (pure, no pyarrow) and derives the cookieless visitor id.
    "collect": {"chalicelib.store", "chalicelib.lake.rows", "chalicelib.lake.columns", "chalicelib.privacy.cookieless"},
    "export": {"chalicelib.store", "chalicelib.lake"},
    "privacy": {"chalicelib.store", "chalicelib.lake", "chalicelib.export"},
}


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, including imports inside functions."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _ours(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in ("chalicelib", "clickstream")}


def _allowed(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


CHALICELIB = _modules(ROOT / "chalicelib")


@pytest.mark.parametrize("path", CHALICELIB, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_in_chalicelib_imports_clickstream(path: Path) -> None:
    assert not {n for n in _imports(path) if n.split(".")[0] == "clickstream"}, "clickstream/ never ships to Lambda"


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_uses_only_what_it_may(package: str) -> None:
    allowed = {f"chalicelib.{package}", *SHARED, *MAY_USE[package]}
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(ROOT / "chalicelib" / package)
        for name in _ours(_imports(path))
        if name != "chalicelib" and not _allowed(name, allowed) and not _is_package_attribute(name, allowed)
    }
    assert not wrong, sorted(wrong)


def _is_package_attribute(name: str, allowed: set[str]) -> bool:
    """``from chalicelib.store import keys`` also yields ``chalicelib.store``: judged by the names imported."""
    return name in {
        "chalicelib.store",
        "chalicelib.lake",
        "chalicelib.export",
        "chalicelib.privacy",
        "chalicelib.collect",
    } and any(a.startswith(name + ".") or a == name for a in allowed)


def test_the_export_never_imports_privacy() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _modules(ROOT / "chalicelib" / "export")
        if any(n.startswith("chalicelib.privacy") for n in _imports(p))
    ]
    assert offenders == []


# A DynamoDB key spelled out: the attribute names as strings, or inside an expression.
KEY_LITERAL = re.compile(
    r"""["'](pk|sk)["']"""  # an attribute name as a string
    r"""|\b(pk|sk)\s*(=|<|>|BETWEEN)\s*:"""  # a key condition
    r"""|\b(attribute_exists|attribute_not_exists|begins_with|attribute_type)\(\s*(pk|sk)\b"""  # a condition function
    r"""|["'](pk|sk)\s*,\s*(pk|sk)\b"""  # a projection
)


@pytest.mark.parametrize(
    "path", [*CHALICELIB, *_modules(ROOT / "clickstream"), ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_store_spells_dynamodb_keys(path: Path) -> None:
    if path.is_relative_to(ROOT / "chalicelib" / "store"):
        return
    hits = [line.strip() for line in path.read_text().splitlines() if KEY_LITERAL.search(line)]
    assert not hits, f"use chalicelib.store.keys instead: {hits}"


def test_the_key_check_catches_what_it_should() -> None:
    for line in (
        '{"pk": {"S": "x"}}',
        'KeyConditionExpression="pk = :pk"',
        '"attribute_not_exists(pk)"',
        'ProjectionExpression="pk, sk"',
    ):
        assert KEY_LITERAL.search(line), line
    assert not KEY_LITERAL.search("keys.shard_of_partition(key_range.pk)") and not KEY_LITERAL.search("shard_of_partition(pk)")


TESTS = _modules(ROOT / "tests")


@pytest.mark.parametrize("path", TESTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_module_imports_another(path: Path) -> None:
    """Shared fixtures live in conftest.py, shared helpers in tests/*.py modules that are not tests."""
    imported = {n for n in _imports(path) if n.startswith("tests.")}
    assert not {n for n in imported if any(part.startswith("test_") for part in n.split(".")[1:])}
