"""What the sentiment model, its training and its evaluation agree on: the three labels
(in the classifier's order), the e5 input prefix, how many tokens a text is cut at, and
the error an unusable model raises.

A leaf module: ``listening.sentiment``, ``listening.packing``, ``listening.train`` and
``listening.evaluate`` read it, so none of them imports another for these (no cycle)."""

from __future__ import annotations

LABELS = ("negative", "neutral", "positive")
PREFIX = "query: "  # the e5 family expects it before every text
MAX_TOKENS = 64


class ModelError(RuntimeError):
    """The model directory is missing or unusable; the message says what to do."""
