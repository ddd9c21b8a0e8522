"""What the backup tests share: the store under test, and `hotline db` run the way an operator runs it."""

from __future__ import annotations

from click.testing import CliRunner, Result

from hotline.cli import main
from hotline.services import Services
from tests.conftest import TEST_DATABASE_URL

POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def cli(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, ["db", *args])


def restore(runner: CliRunner, services: Services, *args: str) -> Result:
    """`hotline db restore …` with the hotline stopped, as its help says: its pooled connections are closed."""
    services.engine.dispose()
    return cli(runner, "restore", *args)
