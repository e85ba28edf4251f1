"""Meta webhook bodies (Messenger, Instagram messaging, Page feed and Instagram comments)
turned into :class:`InboundMessage`.

One POST carries a batch: ``{"object": "page"|"instagram", "entry": [{"id", "time",
"messaging": [...]} | {"id", "time", "changes": [{"field", "value"}]}]}``.

- A direct message (``messaging[].message``) is a private conversation with the sender
  (``sender.id``: a page- or Instagram-scoped id). Its ``mid`` is the external id, so a
  redelivered batch stores nothing twice. Echoes of our own messages are skipped.
- A button press (``messaging[].postback``, or a quick reply) carries its payload.
- A comment (Page ``feed`` change with ``item: comment``, Instagram ``comments``) is a
  public message in the thread of its post: the contact is the post, the author the
  person who wrote it. Comments by the page itself (our replies) are skipped.
- Files come as links: a message's ``attachments`` (``{"type": "image"|"video"|"audio"|
  "file"|"share"|…, "payload": {"url"}}``) and a Page comment's ``photo``; they are kept
  as ``{"type", "url"}`` and :mod:`channels.meta.files` fetches them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.channel import ContactInfo, InboundMessage
from bot.core.clean import from_epoch, obj, seq


def _when(value: Any) -> datetime | None:
    """Meta sends milliseconds in ``messaging`` and seconds (or ISO) in ``changes``;
    None for anything else, or out of range."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_epoch(value / 1000 if value > 10**11 else value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("+0000", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):
            return None
    return None


def _dm(account_id: int, own_id: str, event: dict[str, Any]) -> InboundMessage | None:
    sender = str(obj(event.get("sender")).get("id") or "")
    if not sender or sender == own_id:
        return None
    when = _when(event.get("timestamp"))
    contact = ContactInfo(external_id=sender)
    message = event.get("message")
    if isinstance(message, dict):
        if message.get("is_echo") or message.get("is_deleted") or not message.get("mid"):
            return None
        quick = obj(message.get("quick_reply")).get("payload")
        files = tuple({"type": str(a.get("type") or "file"),
                       "url": str(obj(a.get("payload")).get("url") or "")}
                      for a in seq(message.get("attachments")) if isinstance(a, dict))
        text = str(message.get("text") or "")
        if not text and not files:
            return None
        return InboundMessage(account_id, str(message["mid"]), contact, text, when,
                              attachments=files, payload=str(quick) if quick else None)
    postback = event.get("postback")
    if isinstance(postback, dict) and postback.get("payload"):
        ext = str(postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}")
        return InboundMessage(account_id, ext, contact, str(postback.get("title") or ""),
                              when, payload=str(postback["payload"]))
    return None


def _comment(account_id: int, own_id: str, field: str,
             value: dict[str, Any]) -> InboundMessage | None:
    author = obj(value.get("from"))
    author_id = str(author.get("id") or "")
    if not author_id or author_id == own_id:
        return None
    if field == "feed":  # a Facebook Page
        if value.get("item") != "comment" or value.get("verb") != "add":
            return None
        comment_id, post_id = value.get("comment_id"), value.get("post_id")
        text = str(value.get("message") or "")
        name = str(author.get("name") or "") or None
    elif field == "comments":  # Instagram
        comment_id, post_id = value.get("id"), obj(value.get("media")).get("id")
        text = str(value.get("text") or "")
        name = str(author.get("username") or "") or None
    else:
        return None
    # A Page comment may carry a photo (``photo``: its link); Instagram's carry none.
    photo = value.get("photo") if field == "feed" else None
    files = ({"type": "image", "url": photo},) if isinstance(photo, str) and photo else ()
    if not comment_id or not post_id or not (text or files):
        return None
    return InboundMessage(
        account_id, str(comment_id),
        ContactInfo(external_id=f"post:{post_id}", name=f"Post {post_id}"), text,
        _when(value.get("created_time")), thread_id=f"post/{post_id}",
        author=ContactInfo(external_id=author_id, name=name), attachments=files)


def parse_webhook(account_id: int, own_id: str, body: dict[str, Any]) -> list[InboundMessage]:
    """Every customer message or comment in one webhook batch, in order."""
    out: list[InboundMessage] = []
    for entry in seq(body.get("entry")):
        if not isinstance(entry, dict):
            continue
        for event in seq(entry.get("messaging")):
            if isinstance(event, dict) and (msg := _dm(account_id, own_id, event)):
                out.append(msg)
        for change in seq(entry.get("changes")):
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            if msg := _comment(account_id, own_id, str(change.get("field")), change["value"]):
                out.append(msg)
    return out
