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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _dispatch_import_graph() -> dict[str, set[str]]:
    """Each module of `dispatch` and the `dispatch` modules it imports, at the top or inside a function."""
    paths = {_module_name(p): p for p in (ROOT / "dispatch").rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, `level - 1` steps up
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from dispatch import ladder` imports the module dispatch.ladder; `from x import f`, x itself
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            graph[name] |= {t for t in targets if t in paths and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in `graph` (its modules in order, the first repeated at the end), or [] if none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_dispatch_modules_import_each_other_in_no_circle() -> None:
    assert _cycle(_dispatch_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_two_dispatch_modules_share_a_file_name() -> None:
    # A name says what the module holds: whose replies, which ladder, which staff (migrations are numbered apart).
    seen: dict[str, list[str]] = {}
    for path in (ROOT / "dispatch").rglob("*.py"):
        if path.name != "__init__.py" and "versions" not in path.parts:
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
