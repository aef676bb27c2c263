"""The shape of the code: layer contracts (import-linter), no giants, and docs that name every package."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_MARK = "# long:"  # written on the line above a longer function's def (or its first decorator): the reason


def _sources() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "depot").rglob("*.py")), *sorted((ROOT / "layouts").glob("*.py"))]
    return [p for p in files if "versions" not in p.relative_to(ROOT).parts]


def _lint_imports(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=120)


def test_every_layer_contract_is_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken", result.stdout)
    assert summary, result.stdout
    kept, broken = int(summary[1]), int(summary[2])
    assert broken == 0 and kept >= 5, result.stdout  # layers, circles, independence, purity, pages


def test_the_checker_catches_an_upward_import_and_a_circle(tmp_path):
    """The contracts above can fail: the same tool on a tiny package that breaks each kind of rule."""
    pkg = tmp_path / "toy"
    (pkg / "core").mkdir(parents=True)
    (pkg / "store").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("from toy.store import db  # upward\n")
    (pkg / "core" / "pure.py").write_text("import asyncio  # I/O in the pure core\n")
    (pkg / "store" / "__init__.py").write_text("")
    (pkg / "store" / "db.py").write_text("import toy.store.rows\n")
    (pkg / "store" / "rows.py").write_text("import toy.store.db  # a circle\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = toy\ninclude_external_packages = True\n\n"
        "[importlinter:contract:layers]\nname = layers\ntype = layers\nlayers =\n    toy.store\n    toy.core\n\n"
        "[importlinter:contract:circles]\nname = circles\ntype = acyclic_siblings\nancestors =\n    toy.store\n\n"
        "[importlinter:contract:pure]\nname = pure\ntype = forbidden\nsource_modules =\n    toy.core.pure\n"
        "forbidden_modules =\n    asyncio\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = _lint_imports(tmp_path, "--config", str(tmp_path / ".importlinter"), env=env)
    assert result.returncode != 0, result.stdout
    assert "toy.core is not allowed to import toy.store" in result.stdout
    assert "No cycles are allowed in toy.store" in result.stdout
    assert "toy.core.pure is not allowed to import asyncio" in result.stdout


def test_no_module_over_400_lines():
    big = {str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert big == {}, f"split these by reason to change: {big}"


def test_no_long_function_without_a_reason_beside_it():
    long_ones = []
    for path in _sources():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if length > MAX_FUNCTION_LINES and LONG_MARK not in lines[first - 2]:
                long_ones.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert long_ones == [], "split these, or write '# long: <why>' on the line above: " + ", ".join(long_ones)


@pytest.mark.parametrize("package", sorted(p.parent.name for p in (ROOT / "depot").glob("*/__init__.py")))
def test_each_package_says_what_lives_there_and_is_in_the_architecture_docs(package):
    init = ROOT / "depot" / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc and len(doc.splitlines()) >= 3, f"depot/{package}/__init__.py needs its three-line docstring"
    assert "import" in doc.lower(), f"depot/{package}/__init__.py must say what it may import"
    for page in ("README.md", "docs/architecture.md"):
        assert f"depot/{package}/" in (ROOT / page).read_text(), f"{page} does not mention depot/{package}/"


def test_every_module_says_what_it_is():
    missing = [str(p.relative_to(ROOT)) for p in _sources()
               if p.name != "__init__.py" and not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == [], f"these modules have no docstring: {missing}"


def test_the_architecture_docs_name_every_pure_module_of_the_contract():
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    pure = next(c for c in contracts if c["name"].startswith("The pure core"))["source_modules"]
    doc = (ROOT / "docs" / "architecture.md").read_text()
    inside = [m for m in pure if m.count(".") == 2]  # the pure modules inside service packages
    missing = [m for m in inside if m.split(".", 1)[1].replace(".", "/") + ".py" not in doc]
    assert inside and missing == [], missing
