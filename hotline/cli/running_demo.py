"""A command run beside a running `hotline demo` uses the demo's data, or says plainly that it does not.

The demo writes `demo.running` in its folder while it runs (0600: the settings it chose, its secrets among them,
which are files in that folder anyway) and removes it when it stops. Another command started in the same folder
with no HOTLINE_DATA_DIR of its own would otherwise open ./var, a second, empty database with its own webhook
token: `simulate-sms` then got a misleading "signature" 403 from the demo's server. Now it takes the demo's
settings and says so on stderr; with the demo folder there but not running, it says which data it uses instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import click

RUNNING_FILE = "demo.running"
DEMO_DIR = Path("var/demo")  # `hotline demo`'s default --data-dir, under the folder it was started in
MARKER = ".hotline-demo"  # a demo's folder; only a folder with this file in it is ever wiped by `demo --reset`


def announce_running_demo(data_dir: Path, url: str, environment: Mapping[str, str]) -> None:
    """Say, in the demo's folder, that it runs (this process) and with which settings."""
    record = {"pid": os.getpid(), "url": url, "environment": dict(environment)}
    path = data_dir / RUNNING_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(record, out, ensure_ascii=False)


def demo_environment(environ: Mapping[str, str], default_dir: Path) -> dict[str, str] | None:
    """The settings of the demo running from this folder, for a command given no data dir, database or Redis of its
    own (the caller checks the environment and .env); None if no demo runs here. Says on stderr what it found."""
    if not DEMO_DIR.joinpath(MARKER).is_file():
        return None
    record = _running(DEMO_DIR / RUNNING_FILE)
    if record is None:
        click.echo(
            f"hotline: using the data in {default_dir}; the demo's is in {DEMO_DIR} and the demo is not running "
            f"(HOTLINE_DATA_DIR={DEMO_DIR} uses it)",
            err=True,
        )
        return None
    click.echo(
        f"hotline: using the running demo's data in {DEMO_DIR} ({record['url']}); set HOTLINE_DATA_DIR to use another",
        err=True,
    )
    environment = record["environment"]
    assert isinstance(environment, dict)  # checked by _running
    return {str(k): str(v) for k, v in environment.items()}


def _running(path: Path) -> dict[str, object] | None:
    """The demo's record if its process is still alive."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no file, a torn one, or a demo that died without removing it
    return record if isinstance(record, dict) and isinstance(record.get("environment"), dict) else None
