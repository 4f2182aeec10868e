"""Drive the playground page (``GET /``) in headless Chromium through Playwright: the browser test
and the README's screenshot both use it.

Needs Playwright (the ``browser`` extra, in ``dev`` too) and a Chromium on disk: Debian's
``chromium`` package (``/usr/bin/chromium``), or the binary named by ``$CARDIOLORA_CHROMIUM``.
Playwright's own browser download is not used (there is no internet here).

    python -m cardiolora.serve.browser --url http://127.0.0.1:8000 --out playground.png \\
        --model minilm --model cardio --query "breathless when lying flat with swollen ankles"
"""

from __future__ import annotations

import argparse
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Without the background-networking flags Chromium keeps trying hosts it cannot reach from an
# offline machine; --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """The Chromium to drive: ``$CARDIOLORA_CHROMIUM``, else ``chromium`` on the PATH, else None."""
    return os.environ.get("CARDIOLORA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def open_browser(width: int = 1600, height: int = 900):
    """A new Playwright page in headless Chromium, closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium found: install Debian's chromium package or set $CARDIOLORA_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


@dataclass
class Shown:
    """What the page shows: per model, the cosine matrix's cells and the search hits."""

    matrices: dict[str, list[list[float]]]
    hits: dict[str, list[tuple[str, float]]]


def use_playground(page, url: str, phrases: list[str], models: list[str], query: str | None = None) -> Shown:
    """Open the playground at ``url``, enter ``phrases``, tick exactly ``models``, compare, and (with
    ``query``, on a server with an index) search; returns the numbers the page shows."""
    page.goto(url.rstrip("/") + "/")
    page.wait_for_selector("#models input")
    page.fill("#phrases", "\n".join(phrases))
    for box in page.query_selector_all("#models input"):
        box.set_checked(box.get_attribute("value") in models)
    page.click("#compare")
    page.wait_for_selector("body[data-done='true']")
    matrices = page.eval_on_selector_all(
        "table.heat",
        """tables => Object.fromEntries(tables.map(table => [table.dataset.model,
            [...table.rows].slice(1).map(row => [...row.cells].slice(1).map(cell => Number(cell.textContent)))]))""",
    )
    hits: dict[str, list[tuple[str, float]]] = {}
    if query is not None:
        page.wait_for_selector("#search:not([hidden])")
        page.fill("#query", query)
        page.click("#search-button")
        page.wait_for_selector("body[data-searched='true']")
        shown = page.eval_on_selector_all(
            ".hits",
            """boxes => Object.fromEntries(boxes.map(box => [box.dataset.model,
                [...box.querySelectorAll("li")].map(li =>
                    [li.dataset.id, Number(li.querySelector(".score").textContent)])]))""",
        )
        hits = {model: [(hit_id, score) for hit_id, score in rows] for model, rows in shown.items()}
    return Shown(matrices, hits)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Screenshot the playground of a running `cardiolora serve`.")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--model", action="append", required=True, help="a model to tick (repeatable)")
    parser.add_argument("--phrase", action="append", help="a phrase (repeatable; default: the page's own)")
    parser.add_argument("--query", help="a search query (the server needs --index)")
    args = parser.parse_args(argv)
    with open_browser() as page:
        phrases = args.phrase
        if not phrases:
            page.goto(args.url.rstrip("/") + "/")
            phrases = page.input_value("#phrases").splitlines()
        use_playground(page, args.url, phrases, args.model, args.query)
        tmp = args.out.with_name(args.out.name + ".tmp.png")
        page.screenshot(path=str(tmp), full_page=True)
        tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
