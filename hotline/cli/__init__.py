"""The `hotline` command: run the service, keep the register, read the messages."""

from hotline.cli import checkins, demo, ivr, messages, register, service, tokens, users
from hotline.cli.base import main

__all__ = ["checkins", "demo", "ivr", "main", "messages", "register", "service", "tokens", "users"]
