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
