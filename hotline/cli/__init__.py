"""The `hotline` command: run the service, keep the register, read the messages."""

from hotline.cli import checkins, db_copy, demo, ivr, messages, register, service, tokens, users
from hotline.cli.base import main

__all__ = ["checkins", "db_copy", "demo", "ivr", "main", "messages", "register", "service", "tokens", "users"]
