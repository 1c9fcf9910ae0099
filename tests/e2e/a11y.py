"""Accessibility and layout checks for the browser tests: axe-core (from ui/node_modules, never the
internet) injected into the page, and a search for anything wider than the viewport."""

from __future__ import annotations

from typing import Any

from tessera.settings import REPO_ROOT

AXE = REPO_ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

_RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
  }));
}"""

# Elements whose right edge is past the viewport and that no scrolling or clipping box holds in.
_OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x !== "visible") return p.getBoundingClientRect().right <= width + 1;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1 || clipped(el)) continue;
    out.push(`${el.tagName.toLowerCase()}.${el.className}`.slice(0, 120) + ` right=${r.right}`);
  }
  return { scrollWidth: document.documentElement.scrollWidth, clientWidth: width, out };
}"""


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The page's axe-core violations of serious or critical impact."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(_RUN_AXE)
    return [v for v in found if v["impact"] in BLOCKING]


async def assert_accessible(page: Any, where: str) -> None:
    violations = await axe_violations(page)
    assert not violations, f"{where}: " + "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}):\n  " + "\n  ".join(v["nodes"]) for v in violations
    )


async def assert_no_horizontal_overflow(page: Any, where: str) -> None:
    found = await page.evaluate(_OVERFLOWING)
    assert found["scrollWidth"] <= found["clientWidth"] and not found["out"], f"{where}: {found}"
