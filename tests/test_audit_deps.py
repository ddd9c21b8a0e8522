"""scripts/audit-deps against a stand-in of PyPI's project JSON and a stand-in pip-audit that skips most pins as
this network makes the real one do: every pin is audited by one route or reported as not audited, never as clean."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit-deps"
PROJECTS = {  # name: (latest release, its vulnerabilities)
    "pip": ("25.0", []),
    "beta": (
        "2.0",
        [
            {"id": "PYSEC-2030-1", "fixed_in": ["2.1"], "withdrawn": None},
            {"id": "GHSA-withdrawn", "fixed_in": [], "withdrawn": "2030-01-01"},
        ],
    ),
    "gamma": ("1.1", [{"id": "PYSEC-2030-2", "fixed_in": ["1.1"], "withdrawn": None}]),
    "delta": ("3.0", []),
}
# What pip-audit says when the per-version endpoint answers 404: alpha audited (vulnerable), the rest skipped.
PIP_AUDIT = {
    "dependencies": [
        {"name": "alpha", "version": "1.0", "vulns": [{"id": "GHSA-aaaa", "fix_versions": ["1.2"], "aliases": []}]},
        *(
            {"name": n, "skip_reason": f"Dependency not found on PyPI and could not be audited: {n}"}
            for n in ("beta", "gamma", "delta", "epsilon")
        ),
    ]
}


class StandIn(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.split("/")[2]
        if not self.path.endswith("/json") or name not in PROJECTS or self.path.count("/") != 3:
            self.send_error(404)
            return
        latest, vulns = PROJECTS[name]
        body = json.dumps({"info": {"name": name, "version": latest}, "vulnerabilities": vulns}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pypi() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def audit(tmp_path: Path, pypi: str, pins: str) -> subprocess.CompletedProcess[str]:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(pins)
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint({json.dumps(PIP_AUDIT)!r})\nsys.exit(1)\n")
    fake.chmod(0o755)
    command = [sys.executable, str(SCRIPT), "--constraints", str(constraints), "--pypi", pypi]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={"PIP_AUDIT": str(fake)}, check=False
    )


def test_each_pin_is_audited_by_pip_audit_or_the_latest_release_list_or_named_as_not_audited(
    tmp_path: Path, pypi: str
) -> None:
    done = audit(tmp_path, pypi, "alpha==1.0\nbeta==2.0\n# a comment\ngamma==1.0\ndelta==3.0\nepsilon==1\n")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "VULNERABLE alpha==1.0: GHSA-aaaa (fixed in 1.2)" in lines
    assert "VULNERABLE beta==2.0: PYSEC-2030-1 (fixed in 2.1)" in lines  # the withdrawn one is not counted
    assert "not audited gamma==1.0: pinned 1.0, latest 1.1: PyPI lists vulnerabilities for the latest only" in lines
    assert "not audited epsilon==1: PyPI answered 404" in lines
    assert lines[-1] == (
        "audit-deps: 5 pins; audited 3 (pip-audit 1, PyPI latest-release list 2); vulnerable 2; "
        "not audited 2: gamma==1.0, epsilon==1"
    )


def test_clean_pins_pass_and_an_unreachable_pypi_fails_saying_so(tmp_path: Path, pypi: str) -> None:
    clean = audit(tmp_path, pypi, "delta==3.0\n")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.splitlines()[-1].endswith("vulnerable 0; not audited 0: none")
    down = audit(tmp_path, "http://127.0.0.1:9", "delta==3.0\n")  # the discard port: nothing listens
    assert down.returncode == 2 and "FAILED, nothing audited: PyPI unreachable" in down.stderr
    unpinned = audit(tmp_path, pypi, "delta>=3.0\n")
    assert unpinned.returncode == 1 and "is not pinned with ==" in unpinned.stderr
