"""axe-core (Deque's accessibility engine, from npm) run in a Playwright page: the serious and critical violations.

`scripts/test` installs the pinned axe-core into var/node (`npm install`); AXE_CORE_JS may name another copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

AXE_VERSION = "4.14.1"
ROOT = Path(__file__).resolve().parent.parent
AXE_JS = Path(os.environ.get("AXE_CORE_JS", ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"))
SEVERE = ("serious", "critical")
_RUN = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .filter(v => ["serious", "critical"].includes(v.impact))
  .map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")})`)"""


def available() -> bool:
    """Whether the pinned axe-core is installed."""
    package = AXE_JS.parent / "package.json"
    return AXE_JS.is_file() and (not package.is_file() or f'"version": "{AXE_VERSION}"' in package.read_text())


def severe_violations(page: Any) -> list[str]:
    """The page's serious and critical accessibility violations by axe-core, each as one line naming the rule and
    up to three elements. The engine is evaluated in the page through the browser's devtools protocol, which the
    console's Content-Security-Policy (script-src 'self') does not block, as it would an injected <script>."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    found: list[str] = page.evaluate(_RUN)
    return [f"{page.url}: {line}" for line in found]


# WCAG 1.4.11 (non-text contrast), which axe-core does not check: a form field's border against what is behind it.
_FIELD_CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const behind = (el) => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const kinds = "input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea";
  return [...document.querySelectorAll(kinds)].filter((f) => f.offsetParent !== null).map((f) => {
    const a = lum(rgb(getComputedStyle(f).borderTopColor)), b = lum(behind(f));
    return [f.name || f.id || f.tagName, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  }).filter(([, ratio]) => ratio < 3).map(([name, ratio]) => `${name} ${ratio.toFixed(2)}:1`);
}"""


def low_contrast_fields(page: Any) -> list[str]:
    """The page's visible form fields whose border has less than 3:1 contrast with what is behind them."""
    found: list[str] = page.evaluate(_FIELD_CONTRAST)
    return [f"{page.url}: field border {line}" for line in found]
