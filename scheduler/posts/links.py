"""Tracked links in published posts (the setting ``track_post_links``).

When a post goes out, each http(s) link in the text a target gets becomes a link to our
own redirect, ``/p/<variant id>/<mac>?u=<the link>``, signed like a mail's click link
(``channels.signing``, purpose ``post-click``: only links we wrote redirect, never an open
redirect). A click there is a :class:`~bot.models.PostClick` row (the post, its target's
network, the time; no contact: a click on a social network is anonymous), then a 302 to
the link with UTM parameters added: ``utm_source=<network>``, ``utm_medium=social``,
``utm_campaign=post-<post id>``; the link's own query parameters are kept, and a ``utm_*``
it already has is not overwritten. The shop sees where the buyer landed (Shopify's
``landing_site``, the events API's ``landing_url`` or ``utm_campaign``), and the
attribution report credits the order to the post (``bot.services.reports.shop_facts``).

A post's link does not expire (unlike a mail's, ``signed_link_days``): a post stays up on
its network. A network's length limits still hold (declared on its adapter class,
``Publishing``): a link whose tracked form would make the text too long stays as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.core.links import web_url
from bot.core.time import utcnow
from bot.models import PostClick, PostVariant
from bot.services.reports.post_touch import campaign
from channels.signing import Link, read_link, sign_link
from config import Settings
from scheduler.posts.networks import by_network

PURPOSE = "post-click"
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""  # sentence punctuation after a link is not part of it


def with_utm(url: str, network: str, post_id: int) -> str:
    """``url`` with the post's UTM parameters added (its own, utm_* too, are kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    have = {k for k, _ in query}
    add = [(k, v) for k, v in (("utm_source", network), ("utm_medium", "social"),
                               ("utm_campaign", campaign(post_id))) if k not in have]
    if not add:
        return url
    joined = f"{parts.query}&{urlencode(add)}" if parts.query else urlencode(add)
    return urlunsplit(parts._replace(query=joined))


def _split(found: str) -> tuple[str, str]:
    """A matched link and the punctuation after it (kept as text)."""
    link = found
    while link and link[-1] in _TRAILING:
        if link[-1] == ")" and link.count("(") >= link.count(")"):
            break  # a balanced parenthesis belongs to the link (a wiki page)
        link = link[:-1]
    return link, found[len(link):]


@dataclass(frozen=True)
class LinkTracker:
    """Makes a post's text carry tracked links (the publisher calls :meth:`text`)."""

    base: str  # this server's public address, e.g. https://shop.example
    secret: str

    @classmethod
    def of(cls, settings: Settings) -> LinkTracker:
        base = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
        return cls(base, settings.secret_key.get())

    def url(self, variant_id: int, link: str) -> str:
        value = f"{variant_id}|{link}"  # the URL itself is signed: "<issued>.<mac>" here
        mac = sign_link(self.secret, PURPOSE, value).removeprefix(value + ".")
        return f"{self.base}/p/{variant_id}/{mac}?u={quote(link, safe='')}"

    def text(self, variant_id: int, network: str, text: str, with_media: bool) -> str:
        """``text`` with each http(s) link tracked, as long as the network's limit for
        this kind of post still holds (links that would break it stay as written)."""
        limits = by_network().get(network)
        limit = None
        if limits is not None:
            limit = limits.caption if with_media and limits.caption is not None \
                else limits.text
        out: list[str] = []
        room = (limit - len(text)) if limit is not None else None
        last = 0
        for m in _URL.finditer(text):
            link, _ = _split(m.group(0))
            out.append(text[last:m.start()])
            last = m.start() + len(link)
            tracked = self.url(variant_id, link) if web_url(link) == link else link
            grows = len(tracked) - len(link)
            if room is not None and grows > room:
                tracked, grows = link, 0
            if room is not None:
                room -= grows
            out.append(tracked)
        out.append(text[last:])
        return "".join(out)


def read(secret: str, variant: str, mac: str, url: str) -> Link | None:
    """The signed link's value (``<variant id>|<url>``) if we signed it, else None."""
    if not url or not variant.isdigit() or web_url(url) != url:
        return None
    return read_link(secret, PURPOSE, f"{variant}|{url}.{mac}")


async def clicked(variant_id: int, url: str) -> str:
    """Record a click on a post's tracked link; where to send the browser (the link with
    the post's UTM parameters; as written if its target is gone)."""
    v = await PostVariant.filter(id=variant_id).first().values("post_id", "network")
    if v is None:
        return url
    await PostClick.create(post_id=int(v["post_id"]), variant_id=variant_id,
                           network=str(v["network"]), at=utcnow())
    return with_utm(url, str(v["network"]), int(v["post_id"]))
