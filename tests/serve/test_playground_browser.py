"""The playground in a real browser: headless Chromium (Debian's package) driven by Playwright.

Skipped where no Chromium or Playwright is installed, except under ``CARDIOLORA_REQUIRE_BROWSER=1``
(set by ``.ci/run``, which installs both): there a missing browser fails the test."""

from __future__ import annotations

import importlib.util
import os

import httpx
import numpy as np
import pytest

from cardiolora.serve import ServeSettings, create_app
from cardiolora.serve.browser import chromium_path, open_browser, use_playground
from cardiolora.serve.corpus import ServedCorpus

PHRASES = ["mitral valve stenosis", "aortic valve stenosis", "atrial fibrillation", "no pericardial effusion"]


@pytest.fixture
def browser_page():
    missing = [
        what
        for what, present in (("playwright", importlib.util.find_spec("playwright")), ("chromium", chromium_path()))
        if not present
    ]
    if missing:
        if os.environ.get("CARDIOLORA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CARDIOLORA_REQUIRE_BROWSER=1 but {' and '.join(missing)} is missing")
        pytest.skip(f"{' and '.join(missing)} not installed (`.ci/run` installs them)")
    with open_browser() as page:
        yield page


def test_the_playground_shows_the_servers_cosines_and_search_hits(browser_page, pool, index_dir, live_server, tmp_path):
    corpus = ServedCorpus.open(index_dir)
    corpus.embed_all(pool.encode, pool.names())
    url = live_server(create_app(pool, ServeSettings(window_ms=1), corpus))
    models = [pool.base_name, "alpha"]
    query = "mitral valve stenosis"
    shown = use_playground(browser_page, url, PHRASES, models, query=query)
    assert sorted(shown.matrices) == sorted(models)
    for model in models:
        body = httpx.post(url + "/v1/embeddings", json={"model": model, "input": PHRASES}).json()
        vectors = np.array([item["embedding"] for item in body["data"]])
        expected = vectors @ vectors.T
        assert np.array(shown.matrices[model]).shape == (len(PHRASES), len(PHRASES))
        assert np.abs(np.array(shown.matrices[model]) - expected).max() <= 0.0005 + 1e-6  # shown to 3 decimals
        found = httpx.post(url + "/v1/search", json={"model": model, "query": query, "k": 5}).json()["data"]
        assert [hit_id for hit_id, _ in shown.hits[model]] == [hit["id"] for hit in found]
        assert np.allclose([score for _, score in shown.hits[model]], [hit["score"] for hit in found], atol=0.0005)
    assert not np.allclose(shown.matrices[pool.base_name], shown.matrices["alpha"], atol=1e-3)
    shot = tmp_path / "playground.png"
    browser_page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_page_reports_a_failing_model_instead_of_hanging(browser_page, pool, live_server):
    url = live_server(create_app(pool, ServeSettings(window_ms=1)))
    browser_page.goto(url + "/")
    browser_page.wait_for_selector("#models input")
    assert browser_page.is_hidden("#search")  # no index: no search box
    browser_page.fill("#phrases", "only one phrase")
    browser_page.click("#compare")
    assert "at least two phrases" in browser_page.text_content("#error")
