from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from cardiolora.data.pairs import EndpointParaphraser, ParaphraseFilter, neighbour_pairs, paraphrase_pairs
from cardiolora.errors import CardioloraError

RECORDS = [
    {"text": "Aortic stenosis narrows the valve.", "source": "a.txt", "page": None, "paragraph": 0},
    {"text": "It causes a systolic murmur.", "source": "a.txt", "page": None, "paragraph": 0},
    {"text": "Pericarditis causes chest pain.", "source": "a.txt", "page": None, "paragraph": 1},
    {"text": "Sitting forward relieves it.", "source": "a.txt", "page": None, "paragraph": 1},
]


def test_neighbours_stay_within_a_paragraph():
    pairs = neighbour_pairs(RECORDS)
    assert [(p.anchor, p.positive) for p in pairs] == [
        (RECORDS[0]["text"], RECORDS[1]["text"]), (RECORDS[2]["text"], RECORDS[3]["text"])
    ]  # fmt: skip
    assert pairs[0].group != pairs[1].group and pairs[0].relation == "neighbour"


def test_the_filter_drops_empty_echoed_refused_and_implausible_outputs():
    check = ParaphraseFilter()
    source = "Aortic stenosis narrows the valve."
    assert check.clean(source, "Rewritten sentence: The aortic valve is narrowed by stenosis.") == (
        "The aortic valve is narrowed by stenosis."
    )
    assert check.clean(source, "   ") is None
    assert check.clean(source, "aortic stenosis narrows the valve") is None
    assert check.clean(source, "I'm sorry, but I cannot help with that.") is None
    assert check.clean(source, "Stenosis.") is None
    assert dict(check.rejected) == {"empty": 1, "echo": 1, "refusal": 1, "length": 1}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][0]["content"].rsplit("Sentence: ", 1)[1]
        answer = (
            "As an AI language model I cannot do that."
            if "Pericarditis" in text
            else f"In other words: {text[:-1]} indeed."
        )
        payload = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_an_openai_compatible_endpoint_generates_validated_paraphrases(endpoint):
    pairs, rejected = paraphrase_pairs(RECORDS, EndpointParaphraser(endpoint, "stub"), batch_size=2)
    assert len(pairs) == 3 and rejected == {"refusal": 1}
    assert pairs[0].positive == "In other words: Aortic stenosis narrows the valve indeed."
    assert pairs[0].relation == "paraphrase" and pairs[0].source == f"paraphrase:stub@{endpoint}"


def test_an_unreachable_endpoint_is_a_clear_error():
    with pytest.raises(CardioloraError, match="unreachable"):
        EndpointParaphraser("http://127.0.0.1:9/v1", "stub", timeout=2).paraphrase(["Aortic stenosis."])
