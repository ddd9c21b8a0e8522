"""Reading the versioned data files in `ivr_scripts/`: one place that parses TOML and checks the version."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from dispatch.exceptions import MessageCatalogError


def load_versioned_toml(path: Path, supported: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """The file's data, once its `version` is one we read.

    Raises:
        MessageCatalogError: unreadable, not UTF-8, not TOML, or of a version not in `supported`.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MessageCatalogError(f"{path.name}: {exc}") from exc
    if data.get("version") not in supported:
        raise MessageCatalogError(f"{path.name}: version {data.get('version')!r} is not one of {supported}")
    return data
