"""What the posts feature knows of each publishing network, read from the adapters'
declarations (:class:`bot.core.channel.Publishing`, via :mod:`channels.registry`): names,
limits, where an account's posts go by default, and the tags chat commands use."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from bot.core import i18n
from bot.core.channel import Publishing
from bot.core.errors import InboxError
from bot.core.i18n import lazy
from bot.core.l10n import format_number
from channels import registry

_HASHTAG = re.compile(r"(?<!\w)#\w+")


class PostError(InboxError):
    """A post that cannot be queued or moved; the message names the rule."""


def by_kind() -> dict[str, Publishing]:
    """Channel kind -> its publishing declaration (only kinds that publish)."""
    return registry.publishing()


def by_network() -> dict[str, Publishing]:
    return {p.network: p for p in by_kind().values()}


class _Names(Mapping[str, str]):
    """``"facebook"`` -> ``"Facebook"``: a network's name as its adapter declares it (read
    from the registry each time: nothing is copied at import)."""

    def __getitem__(self, network: str) -> str:
        return by_network()[network].name

    def __iter__(self) -> Iterator[str]:
        return iter(by_network())

    def __len__(self) -> int:
        return len(by_network())


# The pages' {{ label("network", v.network) }}, and a network named in a delivery error.
NAMES = i18n.labels("network", _Names())


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
        raise PostError(lazy("unknown network %(network)s; use one of %(known)s",
                             network=repr(network), known=", ".join(known)),
                        "unknown_network", "network")
    if limits.needs_media and not media:
        raise PostError(lazy("%(network)s posts need at least one image", network=limits.name),
                        "needs_media", "media")
    if not text.strip() and not media:
        raise PostError(lazy("a post needs text or an image"), "empty", "text")
    if len(media) > limits.images:
        raise PostError(lazy("%(network)s allows at most %(limit)s images in a post; this one "
                             "has %(n)s", network=limits.name, limit=limits.images,
                             n=len(media)), "too_many_images", "media")
    n = len(text)
    if media and limits.caption is not None and n > limits.caption:
        raise PostError(lazy("%(network)s allows at most %(limit)s characters in a caption; "
                             "this one has %(n)s", network=limits.name,
                             limit=format_number(limits.caption), n=format_number(n)),
                        "too_long", "text")
    if n > limits.text:
        raise PostError(lazy("%(network)s allows at most %(limit)s characters of text; this "
                             "one has %(n)s", network=limits.name,
                             limit=format_number(limits.text), n=format_number(n)),
                        "too_long", "text")
    tags = len(_HASHTAG.findall(text))
    if limits.hashtags is not None and tags > limits.hashtags:
        raise PostError(lazy("%(network)s allows at most %(limit)s hashtags; this post has "
                             "%(n)s", network=limits.name, limit=limits.hashtags, n=tags),
                        "too_many_hashtags", "text")
