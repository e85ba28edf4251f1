"""Staff corrections of the model's sentiment (the REST API, and ``python run.py
sentiment-eval`` / ``sentiment-corrections`` / ``sentiment-train --with-corrections``):
one correction per item, kept with the text and what the model said, so the eval can
score the model against them and training can take them as rows."""

from __future__ import annotations

from typing import Any, Literal

from bot.models import Mention, Message, Review, SentimentCorrection, SentimentScore, User
from listening import lang as langs
from listening.errors import Missing

ItemKind = Literal["message", "review", "mention"]


async def _item_text(kind: ItemKind, item_id: int) -> tuple[str, str]:
    """The item's text and language."""
    if kind == "message":
        msg = await Message.filter(id=item_id).first()
        if msg is None:
            raise Missing("message", "item_id")
        return msg.text, langs.guess(msg.text)
    row: Review | Mention | None = await (Review if kind == "review" else Mention).filter(
        id=item_id).first()
    if row is None:
        raise Missing(kind, "item_id")
    text = "\n".join(t for t in (getattr(row, "title", ""), row.text) if t)
    return text, row.lang


async def correct(kind: ItemKind, item_id: int, label: str, user: User | None,
                  ) -> SentimentCorrection:
    """Keep ``label`` as the item's sentiment (replacing an earlier correction); a review
    or a mention shows it from now on."""
    text, lang = await _item_text(kind, item_id)
    latest = await SentimentScore.filter(item_kind=kind,
                                         item_id=item_id).order_by("-id").first()
    fields: dict[str, Any] = {
        "text": text, "lang": lang, "label": label,
        "model_label": latest.label if latest else "",
        "model_version": latest.model_version if latest else "", "user": user}
    row, _ = await SentimentCorrection.update_or_create(
        defaults=fields, item_kind=kind, item_id=item_id)
    if kind == "review":
        await Review.filter(id=item_id).update(sentiment=label)
    if kind == "mention":
        await Mention.filter(id=item_id).update(sentiment=label)
    return row


async def all_corrections() -> list[SentimentCorrection]:
    return await SentimentCorrection.all().order_by("id")


async def training_rows() -> list[dict[str, Any]]:
    """Every correction as ``{text, label, lang, model_label}``, oldest first."""
    return list(await SentimentCorrection.all().order_by("id").values(
        "text", "label", "lang", "model_label"))
