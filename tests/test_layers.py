"""The domain never imports the web framework, Twilio or RQ."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {"starlette", "twilio", "rq", "redis", "hotline", "workers", "uvicorn"}


def test_dispatch_imports_no_adapters() -> None:
    offenders = []
    for path in (Path(__file__).parent.parent / "dispatch").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
