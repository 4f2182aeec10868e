"""The server's Prometheus metrics (``GET /metrics``)."""

from __future__ import annotations


def prometheus_metrics():
    """A registry of its own (one per app, so that tests and several apps in one process do not
    collide) and the server's counters, histograms and gauge by name."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    return registry, {
        "requests": Counter(
            "cardiolora_requests", "Embedding requests by model and status", ["model", "status"], registry=registry
        ),
        "inputs": Counter("cardiolora_inputs", "Texts embedded", ["model"], registry=registry),
        "searches": Counter(
            "cardiolora_search_requests", "Search requests by model and status", ["model", "status"], registry=registry
        ),
        "latency": Histogram("cardiolora_request_seconds", "Embedding request latency", registry=registry),
        "batch": Histogram(
            "cardiolora_batch_texts",
            "Texts per micro-batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        ),
        "groups": Histogram(
            "cardiolora_batch_models", "Models (adapters) per micro-batch", buckets=(1, 2, 4, 8, 16), registry=registry
        ),
        "models": Gauge("cardiolora_models_loaded", "Models served (base + adapters)", registry=registry),
        "merged": Gauge(
            "cardiolora_merged_copy_events",
            "Single-model batches run by a merged copy (hit), unmerged beside a copy (switch) or without one "
            "(miss), and merged copies built",
            ["event"],
            registry=registry,
        ),
    }


def watch_merged_copies(gauge, backend) -> None:
    """Report an :class:`~cardiolora.serve.pool.AdapterPool`'s merged-copy counts (read when scraped);
    a backend without merged copies (ONNX) reports none."""
    stats = getattr(backend, "merge_stats", None)
    if stats is None:
        return
    for event in stats:
        gauge.labels(event).set_function(lambda event=event: stats[event])
