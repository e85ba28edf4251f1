"""The explicit map from channel kind to adapter class. No folder scanning: a new channel
is added here, by hand, and joins the contract test in tests/channels/test_contract.py."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.channel import ChannelAdapter, ChannelContext, Publishing
from channels.api.adapter import ApiChannel
from channels.email.adapter import EmailChannel
from channels.meta.adapter import FacebookChannel, InstagramChannel
from channels.telegram.adapter import TelegramChannel
from channels.webchat.adapter import WebChat

Factory = Callable[[ChannelContext], ChannelAdapter]

REGISTRY: dict[str, Factory] = {
    "webchat": WebChat,
    "api": ApiChannel,
    "telegram": TelegramChannel,
    "facebook": FacebookChannel,
    "instagram": InstagramChannel,
    "email": EmailChannel,
}


def kinds() -> list[str]:
    return list(REGISTRY)


def publishing() -> dict[str, Publishing]:
    """kind -> what a publishing network declares on its adapter class (posts read it)."""
    return {kind: p for kind, factory in REGISTRY.items()
            if isinstance(p := getattr(factory, "publishing", None), Publishing)}


def build_all(ctx: ChannelContext) -> dict[str, ChannelAdapter]:
    """One adapter instance per kind, sharing the core context."""
    adapters: dict[str, ChannelAdapter] = {}
    for kind, factory in REGISTRY.items():
        adapter = factory(ctx)
        if adapter.kind != kind or not isinstance(adapter, ChannelAdapter):
            raise TypeError(f"adapter for {kind!r} does not satisfy the channel protocol")
        adapters[kind] = adapter
    return adapters
