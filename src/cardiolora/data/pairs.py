"""Pairs from corpora and users: neighbouring sentences, generated paraphrases, user files.

Paraphrase generators are a local Hugging Face causal LM (e.g. ``smollm2-135m`` from the zoo) or any
OpenAI-compatible chat endpoint. Their output is validated: empty answers, echoes of the input,
refusals and answers of implausible length are dropped and counted.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cardiolora.data.records import PairRecord
from cardiolora.data.text import normalize_for_match
from cardiolora.errors import CardioloraError, InputError
from cardiolora.io import iter_jsonl

PARAPHRASE_INSTRUCTION = (
    "Rewrite the following clinical sentence with different words but exactly the same meaning. "
    "Keep every finding, negation and number. Answer with the rewritten sentence only.\n\nSentence: {text}"
)
_REFUSAL = re.compile(
    r"\b(i('m| am) sorry|i can(no|')t|as an ai|i am unable|i'm unable|cannot assist|language model)\b", re.IGNORECASE
)
_PREFIX = re.compile(r"^\s*(rewritten( sentence)?|paraphrase[d]?|sentence|answer)\s*:\s*", re.IGNORECASE)


def read_corpus(path: str | Path) -> Iterator[dict]:
    """Records of a corpus JSONL written by ``cardiolora data corpus`` (needs ``text``)."""
    for line_number, record in iter_jsonl(path):
        if not isinstance(record.get("text"), str) or not record["text"].strip():
            raise InputError("missing or empty", path=path, line=line_number, field="text")
        yield record


def neighbour_pairs(records: Iterable[dict]) -> list[PairRecord]:
    """Consecutive sentences of one paragraph as (anchor, positive)."""
    pairs = []
    previous: dict | None = None
    for record in records:
        key = (record.get("source"), record.get("page"), record.get("paragraph"))
        if previous is not None and key == previous["_key"]:
            group = f"{key[0]}#p{key[1]}#{key[2]}"
            pairs.append(PairRecord(previous["text"], record["text"], None, "corpus", "neighbour", group))
        previous = {"text": record["text"], "_key": key}
    return pairs


class Paraphraser(Protocol):
    name: str

    def paraphrase(self, texts: Sequence[str]) -> list[str]: ...


@dataclass
class ParaphraseFilter:
    """Keeps a generated paraphrase only if it is a plausible rewording of its source."""

    min_length_ratio: float = 0.5
    max_length_ratio: float = 2.0
    rejected: Counter = field(default_factory=Counter)

    def clean(self, source: str, generated: str | None) -> str | None:
        text = _PREFIX.sub("", (generated or "").strip().strip('"').strip()).strip().splitlines()
        text = text[0].strip().strip('"') if text else ""
        if not text:
            self.rejected["empty"] += 1
            return None
        if _REFUSAL.search(text):
            self.rejected["refusal"] += 1
            return None
        if normalize_for_match(text) == normalize_for_match(source):
            self.rejected["echo"] += 1
            return None
        ratio = len(text) / max(1, len(source))
        if not self.min_length_ratio <= ratio <= self.max_length_ratio:
            self.rejected["length"] += 1
            return None
        return text


class LocalLMParaphraser:
    """Greedy paraphrases from a local causal LM (a zoo name or model directory)."""

    def __init__(self, model: str, max_new_tokens: int = 64) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from cardiolora.models import resolve_model

        resolved = resolve_model(model)
        self.name = resolved.spec.name
        self.tokenizer = AutoTokenizer.from_pretrained(resolved.path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(resolved.path).eval()
        self.max_new_tokens = max_new_tokens

    def _prompt(self, text: str) -> str:
        message = PARAPHRASE_INSTRUCTION.format(text=text)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
            )
        return message + "\nRewritten sentence:"

    def paraphrase(self, texts: Sequence[str]) -> list[str]:
        import torch

        batch = self.tokenizer([self._prompt(t) for t in texts], return_tensors="pt", padding=True)
        with torch.inference_mode():
            output = self.model.generate(
                **batch, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=self.tokenizer.pad_token_id
            )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)


class EndpointParaphraser:
    """Paraphrases from an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.name = f"{model}@{base_url}"
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def _one(self, text: str) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "temperature": 0,
                "messages": [{"role": "user", "content": PARAPHRASE_INSTRUCTION.format(text=text)}],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise CardioloraError(f"paraphrase endpoint {self.url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CardioloraError(f"paraphrase endpoint {self.url} is unreachable ({reason})") from None
        except json.JSONDecodeError:
            raise CardioloraError(f"paraphrase endpoint {self.url} did not answer JSON") from None
        try:
            return payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise CardioloraError(
                f"paraphrase endpoint {self.url} answered without choices[0].message.content"
            ) from None

    def paraphrase(self, texts: Sequence[str]) -> list[str]:
        return [self._one(t) for t in texts]


def paraphrase_pairs(
    records: Iterable[dict], paraphraser: Paraphraser, *, batch_size: int = 8, limit: int | None = None, progress=None
) -> tuple[list[PairRecord], Counter]:
    """(sentence, generated paraphrase) pairs; returns the pairs and the count of rejected outputs."""
    check = ParaphraseFilter()
    pairs: list[PairRecord] = []
    batch: list[dict] = []

    def flush() -> None:
        outputs = paraphraser.paraphrase([r["text"] for r in batch])
        for record, output in zip(batch, outputs, strict=True):
            cleaned = check.clean(record["text"], output)
            if cleaned is not None:
                group = f"{record.get('source')}#p{record.get('page')}#{record.get('paragraph')}"
                pairs.append(
                    PairRecord(record["text"], cleaned, None, f"paraphrase:{paraphraser.name}", "paraphrase", group)
                )
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for count, record in enumerate(records):
        if limit is not None and count >= limit:
            break
        batch.append(record)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return pairs, check.rejected
