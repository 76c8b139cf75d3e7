"""The packages depend one way: `core` on no package of the project, the library packages on `core` (and on
each other), never on the application package `mq`, which wires them together. Read from the sources with
`ast`, so an import inside a function counts as much as one at the top."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("alerting", "detectors", "checks", "ledger", "rootcause", "metricstore", "pulls", "controls",
             "reports", "incidents", "status", "sizing")
PROJECT = ("core", "mq", *LIBRARIES)


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(packages: tuple[str, ...], refused: tuple[str, ...], root: Path = REPO) -> list[str]:
    out = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for line, imported in imported_packages(path):
                if imported in refused:
                    out.append(f"{path.relative_to(root)}:{line}: imports {imported}")
    return out


def test_the_rule_sees_every_library_package():
    missing = [p for p in PROJECT if not (REPO / p / "__init__.py").is_file()]
    assert missing == []


@pytest.mark.parametrize("package", LIBRARIES)
def test_a_library_package_never_imports_mq(package):
    assert violations((package,), ("mq",)) == []


def test_core_imports_no_package_of_the_project():
    assert violations(("core",), tuple(p for p in PROJECT if p != "core")) == []


def test_the_rule_names_the_file_and_line_of_a_refused_import(tmp_path):
    (tmp_path / "alerting").mkdir()
    (tmp_path / "alerting" / "x.py").write_text("import os\nimport mq.spark\n\ndef f():\n    from mq.config import Config\n")
    assert violations(("alerting",), ("mq",), root=tmp_path) == ["alerting/x.py:2: imports mq",
                                                                 "alerting/x.py:5: imports mq"]
