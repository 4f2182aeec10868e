"""Property-based fuzzing of POST /v1/embeddings (issue 13) and POST /v1/search: whatever the body (JSON of any shape,
request-like JSON with hostile values, arbitrary bytes), the answer is never a 5xx and never an
unhandled exception (the test client re-raises those), and every error is in OpenAI's shape.

Bounded (``max_examples``) so that the default suite stays fast; no example database is written."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cardiolora.serve import AdapterPool, ServeSettings, create_app

LIMITS = ServeSettings(max_inputs=8, max_body_bytes=16_384, max_input_chars=200, window_ms=0)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Every code point, lone surrogates included (JSON's "\ud800" escapes produce them).
characters = st.characters(exclude_categories=())
texts = st.text(characters, max_size=240)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(characters, max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(characters, max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def fuzz(tiny_model_dir, two_adapters):
    """A client on a real (tiny) pool with two adapters, shared by every example."""
    _, adapters = two_adapters
    pool = AdapterPool.load(str(tiny_model_dir("bert")), adapters)
    with TestClient(create_app(pool, LIMITS)) as client:
        yield client, pool.names()


def _post(client, content: bytes | str, path: str = "/v1/embeddings"):
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    payload = response.json()
    if response.status_code == 200:
        assert payload["object"] == "list" and payload["data"]
    else:
        assert set(payload) == {"error"} and set(payload["error"]) == {"message", "type", "param", "code"}
        assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    return response


@FUZZ
@given(body=json_values)
def test_any_json_value_is_answered_without_a_5xx(fuzz, body):
    client, _ = fuzz
    _post(client, json.dumps(body))


@st.composite
def request_like(draw):
    """A body with the API's fields, each (when present) a plausible value three times in four and
    a hostile one otherwise, so that a fair share of examples get through to the encoder."""
    fields = {
        "model": (st.sampled_from(["base", "alpha", "beta"]), st.just("nope") | json_values),
        "input": (st.text(max_size=60, min_size=1) | st.lists(texts, min_size=1, max_size=4),
                  texts | st.lists(texts, max_size=10) | json_values),
        "encoding_format": (st.sampled_from(["float", "base64"]), st.just("int8") | json_values),
        "dimensions": (st.integers(1, 32), st.integers() | st.booleans() | st.text(max_size=3) | json_values),
        "user": (st.text(max_size=10), json_values),
        "extra": (json_values, json_values),
    }  # fmt: skip
    body = {}
    for key, (plausible, hostile) in fields.items():
        if key in ("model", "input") or draw(st.booleans()):
            body[key] = draw(plausible if draw(st.integers(0, 3)) else hostile)
    return body


@FUZZ
@given(body=request_like())
def test_request_shaped_json_with_hostile_values_is_answered_without_a_5xx(fuzz, body):
    client, names = fuzz
    if body.get("model") == "base":
        body["model"] = names[0]  # the base model's name is its directory
    response = _post(client, json.dumps(body))
    if response.status_code == 200:
        expected = 1 if isinstance(body["input"], str) else len(body["input"])
        assert len(response.json()["data"]) == expected


raw_bodies = st.one_of(
    st.binary(max_size=2_000),
    # Deep nesting and long numbers, below and above the body limit.
    st.builds(
        lambda opener, n: (opener * n).encode(),
        st.sampled_from(["[", '{"a":', '{"input":[', "-"]),
        st.integers(0, 20_000),
    ),
    st.builds(lambda n: b'{"model": "alpha", "input": "x", "dimensions": ' + b"7" * n + b"}", st.integers(1, 12_000)),
    # A valid body cut or with bytes replaced.
    st.builds(
        lambda cut, junk: json.dumps({"model": "alpha", "input": ["mitral stenosis", "x"]}).encode()[:cut] + junk,
        st.integers(0, 60),
        st.binary(max_size=8),
    ),
)


@FUZZ
@given(body=raw_bodies)
def test_arbitrary_bytes_are_answered_without_a_5xx(fuzz, body):
    client, _ = fuzz
    response = _post(client, body)
    if len(body) > LIMITS.max_body_bytes:
        assert response.status_code == 413


@pytest.fixture(scope="module")
def fuzz_search(tiny_model_dir, two_adapters, index_dir):
    """A client on a tiny pool holding an index, for POST /v1/search."""
    from cardiolora.serve.corpus import ServedCorpus

    _, adapters = two_adapters
    pool = AdapterPool.load(str(tiny_model_dir("bert")), adapters)
    corpus = ServedCorpus.open(index_dir)
    corpus.embed_all(pool.encode, pool.names())
    with TestClient(create_app(pool, LIMITS, corpus)) as client:
        yield client, pool.names()


@st.composite
def search_like(draw):
    fields = {
        "model": (st.sampled_from(["base", "alpha", "beta"]), st.just("nope") | json_values),
        "query": (st.text(max_size=60, min_size=1), texts | json_values),
        "k": (st.integers(1, 50), st.integers() | st.booleans() | st.floats() | json_values),
        "extra": (json_values, json_values),
    }  # fmt: skip
    body = {}
    for key, (plausible, hostile) in fields.items():
        if key in ("model", "query") or (key != "extra" and draw(st.booleans())) or draw(st.integers(0, 7)) == 0:
            body[key] = draw(plausible if draw(st.integers(0, 3)) else hostile)
    return body


@FUZZ
@given(body=st.one_of(search_like(), json_values, raw_bodies))
def test_any_search_body_is_answered_without_a_5xx(fuzz_search, body):
    client, names = fuzz_search
    if isinstance(body, dict) and body.get("model") == "base":
        body["model"] = names[0]
    response = _post(client, body if isinstance(body, bytes) else json.dumps(body), "/v1/search")
    if response.status_code == 200:
        hits = response.json()["data"]
        assert [hit["rank"] for hit in hits] == list(range(1, len(hits) + 1))
        assert len(hits) == min(body.get("k", 5), 6)
