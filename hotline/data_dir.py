"""Preparing the data directory: made if new, writable, and holding the secrets generated for this installation.

Reading the settings touches no file (`hotline.settings.read_settings`); this is the step that does, run by
`load_settings` once the values are checked. `hotline.private_files` then keeps the folder its owner's alone
for the commands that run the service.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from hotline.exceptions import SettingsError


def prepare_data_dir(data_dir: Path) -> None:
    """Make `data_dir` if it is new and check that this process can write in it.

    Raises:
        SettingsError: naming HOTLINE_DATA_DIR, when it cannot be made or written.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError("HOTLINE_DATA_DIR", f"{data_dir} cannot be created: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise SettingsError("HOTLINE_DATA_DIR", f"{data_dir} is not writable")


def local_secret(data_dir: Path, name: str, make: Callable[[], str] = lambda: secrets.token_hex(16)) -> str:
    """A per-installation secret kept in data_dir: the local webhook token, so signature checks stay on without
    Twilio, the session key, the demo's password. Made once by `make` (0600); every process on this machine reads
    the same one."""
    path = data_dir / name
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = make()
    # Write aside, then link into place: two processes starting at once must agree on one whole token.
    tmp = data_dir / f".{name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    try:
        os.link(tmp, path)
    except FileExistsError:
        token = path.read_text().strip()
    finally:
        tmp.unlink()
    return token
