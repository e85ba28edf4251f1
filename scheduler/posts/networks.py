"""What the posts feature knows of each publishing network, read from the adapters'
declarations (:class:`bot.core.channel.Publishing`, via :mod:`channels.registry`): names,
limits, where an account's posts go by default, and the tags chat commands use."""

from __future__ import annotations

import re
from typing import Any

from bot.core.channel import Publishing
from bot.core.errors import InboxError
from channels import registry

_HASHTAG = re.compile(r"(?<!\w)#\w+")


class PostError(InboxError):
    """A post that cannot be queued or moved; the message names the rule."""


def by_kind() -> dict[str, Publishing]:
    """Channel kind -> its publishing declaration (only kinds that publish)."""
    return registry.publishing()


def by_network() -> dict[str, Publishing]:
    return {p.network: p for p in by_kind().values()}


def by_tag() -> dict[str, str]:
    """``"tg"`` -> ``"telegram"``: the tags a chat command may name a network by."""
    return {tag: p.network for p in by_kind().values() for tag in p.tags}


def default_target(kind: str, settings: dict[str, Any] | None) -> str:
    """Where an account's posts go unless a post says otherwise ("" if not set up)."""
    p = by_kind().get(kind)
    return str((settings or {}).get(p.target_setting) or "").strip() if p else ""


def target_setting(kind: str) -> str:
    p = by_kind().get(kind)
    return p.target_setting if p else "target"


def check_variant(network: str, text: str, media: list[dict[str, Any]]) -> None:
    """Raise PostError naming the network's limit the text or media break."""
    known = by_network()
    limits = known.get(network)
    if limits is None:
        raise PostError(f"unknown network {network!r}; use one of {', '.join(known)}",
                        "unknown_network", "network")
    if limits.needs_media and not media:
        raise PostError(f"{limits.name} posts need at least one image", "needs_media",
                        "media")
    if not text.strip() and not media:
        raise PostError("a post needs text or an image", "empty", "text")
    if len(media) > limits.images:
        raise PostError(f"{limits.name} allows at most {limits.images} images in a post; "
                        f"this one has {len(media)}", "too_many_images", "media")
    n = len(text)
    if media and limits.caption is not None and n > limits.caption:
        raise PostError(f"{limits.name} allows at most {limits.caption:,} characters in a "
                        f"caption; this one has {n:,}", "too_long", "text")
    if n > limits.text:
        raise PostError(f"{limits.name} allows at most {limits.text:,} characters of "
                        f"text; this one has {n:,}", "too_long", "text")
    tags = len(_HASHTAG.findall(text))
    if limits.hashtags is not None and tags > limits.hashtags:
        raise PostError(f"{limits.name} allows at most {limits.hashtags} hashtags; this "
                        f"post has {tags}", "too_many_hashtags", "text")
