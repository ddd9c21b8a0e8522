"""The layers: the domain imports no adapter; workers import nothing of the hotline's entry points or web code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent


def imports_from(package: str, forbidden: set[str]) -> list[str]:
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    return offenders


def test_dispatch_imports_no_adapters() -> None:
    assert imports_from("dispatch", {"starlette", "twilio", "rq", "redis", "hotline", "workers", "uvicorn"}) == []


def dynamic_imports_in(package: str) -> list[str]:
    """Calls that import a module named by a string (importlib, __import__, RQ's import_attribute)."""
    loaders = {"import_module", "__import__", "import_attribute", "import_string"}
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                offenders += [f"{path.name}: {name}()"] if name in loaders else []
    return offenders


def test_workers_import_no_hotline() -> None:
    # workers/ holds adapters (queues, gateways, throttle); the job functions are entry points in hotline/jobs.
    assert imports_from("workers", {"hotline", "starlette", "uvicorn"}) == []
    assert dynamic_imports_in("workers") == []  # nor by a string, behind the import statements' back
