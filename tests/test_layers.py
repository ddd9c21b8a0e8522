"""The layers: the domain imports no adapter; workers import no web code."""

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


def test_workers_import_no_web_code() -> None:
    # Workers may use the composition root (hotline.services, hotline.settings), never the web app.
    assert imports_from("workers", {"starlette", "uvicorn"}) == []
    offenders = imports_from("workers", {"hotline"})
    assert all(o.endswith(("hotline.services", "hotline.settings")) for o in offenders), offenders


SQL_NAMES = {"select", "insert", "update", "delete", "text", "func"}
SESSION_QUERIES = {"execute", "scalars", "scalar"}


def _receiver(node: ast.expr) -> str:
    """The name a method is called on: `session` in `session.execute(...)`, `services.redis` → `redis`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def sql_in(package: str) -> list[str]:
    """SQL written in `package`: SQL constructs imported from sqlalchemy, or statements run on a session (a Redis
    pipeline's `execute` is not SQL)."""
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        where = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
                names = [a.name for a in node.names]
                sql = node.module.startswith("sqlalchemy.sql")  # where the constructs are defined: all of it is SQL
                offenders += [f"{where}: imports {name}" for name in names if sql or name in SQL_NAMES]
            elif isinstance(node, ast.Import):
                offenders += [f"{where}: imports {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_QUERIES
                and "pipe" not in _receiver(node.func.value)
            ):
                offenders.append(f"{where}:{node.lineno}: .{node.func.attr}(")
    return offenders


def test_webhooks_and_console_write_no_sql_queries_live_in_dispatch() -> None:
    assert sql_in("hotline/webhooks") == []
    assert sql_in("hotline/console") == []
