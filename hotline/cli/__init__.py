"""The `hotline` command: run the service, keep the register, read the messages."""

from hotline.cli import messages, register, service
from hotline.cli.base import main

__all__ = ["main", "messages", "register", "service"]
