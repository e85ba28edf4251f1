"""Accuracy and macro-F1 per language and overall (``python run.py sentiment-eval``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from listening.spec import LABELS


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """The mean over the labels present in gold or predictions of each label's F1."""
    labels = [lab for lab in LABELS if lab in gold or lab in predicted]
    if not labels:
        return 0.0
    total = 0.0
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == lab)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == lab != g)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == lab != p)
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / len(labels)


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float | int]:
    n = len(gold)
    right = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p)
    return {"macro_f1": round(macro_f1(gold, predicted), 4),
            "accuracy": round(right / n, 4) if n else 0.0, "n": n}


def report(gold: Sequence[str], predicted: Sequence[str], langs: Sequence[str],
           ) -> dict[str, dict[str, float | int]]:
    """``{lang: {macro_f1, accuracy, n}, …, "all": {…}}``, languages sorted."""
    by_lang: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for g, p, lang in zip(gold, predicted, langs, strict=True):
        by_lang[lang][0].append(g)
        by_lang[lang][1].append(p)
    out = {lang: scores(*by_lang[lang]) for lang in sorted(by_lang)}
    out["all"] = scores(gold, predicted)
    return out


def table(result: dict[str, dict[str, float | int]]) -> str:
    lines = [f"{'lang':<12}{'n':>7}{'accuracy':>10}{'macro-F1':>10}"]
    for lang, s in result.items():
        lines.append(f"{lang:<12}{s['n']:>7}{s['accuracy']:>10.3f}{s['macro_f1']:>10.3f}")
    return "\n".join(lines)
