"""axe-core in a real page, under the page's own strict CSP.

The script is evaluated through the DevTools protocol (`page.evaluate`), which the page's
Content-Security-Policy does not govern, so nothing about the page is loosened for the test;
a `<script>` tag added by content would be blocked by `script-src 'self'`. The helper fails
if axe did not actually run. Shared by the survivor and caseworker tests.

    from tests.browser.axe import assert_no_axe_violations
    assert_no_axe_violations(page, "start page")
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXE_PATH = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@cache
def _axe_source() -> str:
    if not AXE_PATH.exists():
        raise AssertionError(f"axe-core is missing at {AXE_PATH}: run `npm ci`")
    return AXE_PATH.read_text(encoding="utf-8")


def axe_run(page, *, tags: list[str] | None = None) -> dict:
    """Run axe on the page as it is now; returns {"violations": [...], "passes": n, "version": v}."""
    if not page.evaluate("() => typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        """async (tags) => {
            const r = await window.axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return {
              engine: r.testEngine && r.testEngine.name,
              version: r.testEngine && r.testEngine.version,
              passes: r.passes.length,
              violations: r.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary, html: n.html})),
              })),
            };
        }""",
        tags or WCAG_TAGS,
    )
    # A run that checked nothing proves nothing: axe must have run and passed some rules.
    assert result["engine"] == "axe-core", f"axe did not run: {result!r}"
    assert result["passes"] > 0, "axe ran no checks on this page"
    return result


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['summary']}")
    return "\n".join(lines)


def assert_no_axe_violations(page, label: str = "") -> dict:
    result = axe_run(page)
    assert result["violations"] == [], (
        f"axe-core {result['version']} found WCAG 2.2 AA violations on {label or page.url}:\n"
        + format_violations(result["violations"])
    )
    return result
