"""The probe behind the exploratory rows of docs/recipes.md (kept so those numbers can be reproduced).

    PAIRS=pairs.jsonl TARGETS=query,value .venv/bin/python docs/experiments/recipe_probe.py MODE LR SCALE WCOS [LIMIT]

MODE: ``infonce`` (InfoNCE at SCALE = 1/temperature, plus WCOS x cosine targets 0.8/0.1) or ``cos``
(cosine targets only). LIMIT: train on the first LIMIT pairs (shuffled, seed 0) that have a negative.
minilm, LoRA r=16 alpha=32 dropout 0.1, batch 64, one epoch, linear schedule with 10% warm-up.
It predates `cardiolora train` and wires the same pieces by hand; use `cardiolora train` for real runs.
"""

import os
import random
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
import torch
from datasets import Dataset
from peft import LoraConfig
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.sentence_transformer import losses
from sentence_transformers.training_args import BatchSamplers

from cardiolora.data import load_pairs
from cardiolora.embedding import Embedder
from cardiolora.evaluation import evaluate_embedder, load_eval_set

mode = sys.argv[1]
lr = float(sys.argv[2])
scale = float(sys.argv[3])
wcos = float(sys.argv[4])
limit = int(sys.argv[5]) if len(sys.argv) > 5 else None
emb = Embedder.load("minilm")
model = emb.model
ev = [load_eval_set("cardiology")]
r0 = evaluate_embedder(emb, ev, n_resamples=200).to_dict()
print("zero", r0["separation"], r0["auc"], r0["negation_accuracy"], flush=True)
model.add_adapter(
    LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.1, target_modules=os.environ.get("TARGETS", "query,value").split(",")
    )
)
pairs = load_pairs(os.environ.get("PAIRS", "/tmp/exp/pairs.jsonl"))
random.Random(0).shuffle(pairs)
if limit:
    pairs = pairs[:limit]
pairs = [p for p in pairs if p.negative]
ds = Dataset.from_dict(
    {
        "anchor": [p.anchor for p in pairs],
        "positive": [p.positive for p in pairs],
        "negative": [p.negative for p in pairs],
    }
)


class Combined(torch.nn.Module):
    def __init__(self, model, scale, wcos, pos=0.8, neg=0.1):
        super().__init__()
        self.model = model
        self.mnrl = losses.MultipleNegativesRankingLoss(model, scale=scale)
        self.cos = losses.CosineSimilarityLoss(model)
        self.wcos = wcos
        self.pos = pos
        self.neg = neg

    def forward(self, features, labels):
        e = embed_columns(self.model, features)
        total = self.mnrl.compute_loss_from_embeddings(e, labels) if mode != "cos" else 0
        if self.wcos:
            a, p, n = e
            t = torch.cat([torch.full((len(a),), self.pos), torch.full((len(a),), self.neg)]).to(a.device)
            total = total + self.wcos * self.cos.compute_loss_from_embeddings([torch.cat([a, a]), torch.cat([p, n])], t)
        return total


loss = Combined(model, scale, wcos)
args = SentenceTransformerTrainingArguments(
    output_dir="/tmp/exp/out",
    num_train_epochs=1,
    per_device_train_batch_size=64,
    learning_rate=lr,
    warmup_ratio=0.1,
    lr_scheduler_type="linear",
    weight_decay=0.01,
    logging_steps=20,
    save_strategy="no",
    report_to="none",
    seed=0,
    batch_sampler=BatchSamplers.NO_DUPLICATES,
    disable_tqdm=True,
)
t = time.time()
SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss).train()
print("train time", time.time() - t, len(ds))
r = evaluate_embedder(emb, ev + [load_eval_set("pulmonology"), load_eval_set("nephrology")], n_resamples=200).to_dict()
for e in r["evaluations"]:
    print(
        e["eval_set"]["name"],
        round(e["separation"], 3),
        round(e["auc"], 3),
        e["negation_accuracy"],
        {k: round(v["mean"], 3) for k, v in e["categories"].items()},
    )
