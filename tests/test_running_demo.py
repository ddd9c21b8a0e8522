"""A command run beside a running demo uses the demo's settings only when it was given no data dir, database or
Redis of its own, in the environment or in .env: a production DATABASE_URL is never overridden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.cli.base import settings_or_exit
from hotline.cli.running_demo import DEMO_DIR, MARKER, announce_running_demo


@pytest.fixture
def beside_a_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's folder, with a demo "running" in var/demo (this process plays its pid)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("HOTLINE_", "TWILIO_", "REDIS_", "DATABASE_")):
            monkeypatch.delenv(name)
    demo = tmp_path / DEMO_DIR
    demo.mkdir(parents=True)
    (demo / MARKER).write_text("made by hotline demo\n")
    announce_running_demo(demo, "http://127.0.0.1:8123", {"HOTLINE_DATA_DIR": str(demo), "DATABASE_URL": ""})
    return demo


def test_a_command_with_nothing_of_its_own_uses_the_running_demo(
    beside_a_demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert settings_or_exit().data_dir == beside_a_demo
    assert "using the running demo's data in var/demo" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line",
    ["HOTLINE_DATA_DIR=./var", "DATABASE_URL=sqlite:///./elsewhere.sqlite3", "REDIS_URL=redis://127.0.0.1:1/0"],
)
def test_a_setting_in_env_file_wins_over_the_demo(
    beside_a_demo: Path, tmp_path: Path, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text(line + "\n")
    settings = settings_or_exit()
    assert settings.data_dir != beside_a_demo and "demo" not in str(settings.database_url)
    assert "demo" not in capsys.readouterr().err


def test_a_setting_in_the_environment_wins_over_the_demo(
    beside_a_demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/production.sqlite3")
    settings = settings_or_exit()
    assert settings.database_url.endswith("production.sqlite3") and settings.data_dir != beside_a_demo
