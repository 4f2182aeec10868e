from __future__ import annotations

import socket
import threading
import time

import pytest


@pytest.fixture(scope="session")
def two_adapters(tiny_model_dir, tiny_pairs, tmp_path_factory):
    """Two adapters of the tiny BERT trained with different seeds and a high learning rate, so that
    their embeddings clearly differ, inside one adapter directory."""
    from cardiolora.training import build_config, train

    root = tmp_path_factory.mktemp("adapters")
    out = {}
    for name, seed in (("alpha", 1), ("beta", 2)):
        config = build_config({
            "model": str(tiny_model_dir("bert")), "data": str(tiny_pairs), "out": str(root / f"run-{name}"),
            "max_steps": 3, "batch_size": 8, "learning_rate": 0.05, "seed": seed, "report_to": [],
            "eval_resamples": 100,
        })  # fmt: skip
        out[name] = train(config, log=lambda *_: None).adapter_dir
    return root, out


@pytest.fixture
def pool(tiny_model_dir, two_adapters):
    from cardiolora.serve import AdapterPool

    root, adapters = two_adapters
    return AdapterPool.load(str(tiny_model_dir("bert")), adapters, adapter_root=root)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_server():
    """Run an app under uvicorn on loopback in a thread; yields a factory returning the base URL."""
    import uvicorn

    servers = []

    def start(app) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the server did not start"
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=30)


INDEX_CORPUS = [
    {"id": "mi", "text": "acute myocardial infarction", "source": "cardiology"},
    {"id": "af", "text": "atrial fibrillation with rapid ventricular response", "source": "cardiology"},
    {"id": "ms", "text": "mitral valve stenosis", "source": "cardiology"},
    {"id": "pe", "text": "pericardial effusion", "source": "cardiology"},
    {"id": "copd", "text": "chronic obstructive pulmonary disease exacerbation", "source": "pulmonology"},
    {"id": "ckd", "text": "chronic kidney disease stage 3", "source": "nephrology"},
]


@pytest.fixture(scope="session")
def index_dir(tiny_model_dir, tmp_path_factory):
    """An index of :data:`INDEX_CORPUS` built with the tiny BERT (its rows are what the server reads)."""
    from cardiolora.embedding import Embedder
    from cardiolora.serve.search import build_index

    out = tmp_path_factory.mktemp("index") / "cardio-index"
    return build_index(Embedder.load(str(tiny_model_dir("bert"))), INDEX_CORPUS, out)
