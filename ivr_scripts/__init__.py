"""Versioned data: spoken menus, SMS texts and keyword tables. Staff may edit these files; code only reads them."""

from pathlib import Path

SCRIPTS_DIR = Path(__file__).parent
