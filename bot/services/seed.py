"""The demo shop seeded into an empty database on first start."""

from __future__ import annotations

import secrets
from typing import Any

from bot.core.auth import create_user
from bot.models import CannedReply, ChannelAccount, FaqEntry, Role, User
from config import Settings

ADMIN_EMAIL = "admin@example.com"
# The bot's first answers; staff change them under Bot → FAQ.
DEMO_FAQ: list[dict[str, Any]] = [
    {"locale": "en", "question": "How long does delivery take?", "in_menu": True,
     "variants": ["delivery time", "when will my order arrive", "shipping time"],
     "answer": "Orders ship within one working day; delivery takes 2-4 days."},
    {"locale": "en", "question": "What is your return policy?", "in_menu": True,
     "variants": ["refund", "can I return an item", "exchange a size"],
     "answer": "You can return unworn items within 30 days for a full refund."},
    {"locale": "en", "question": "What are your opening hours?",
     "variants": ["when are you open", "business hours"],
     "answer": "We answer Monday to Saturday, 9:00-18:00."},
    {"locale": "vi", "question": "Giao hàng mất bao lâu?", "in_menu": True,
     "variants": ["thời gian giao hàng", "khi nào nhận được hàng"],
     "answer": "Đơn hàng được gửi trong một ngày làm việc; giao hàng mất 2-4 ngày."},
    {"locale": "vi", "question": "Chính sách đổi trả thế nào?", "in_menu": True,
     "variants": ["hoàn tiền", "đổi size"],
     "answer": "Bạn có thể đổi trả sản phẩm chưa sử dụng trong vòng 30 ngày."},
]


async def seed_demo(settings: Settings) -> dict[str, Any] | None:
    """Create a web-chat account, an API account, an admin and two canned replies.

    Returns the credentials (shown once) when it seeded, None if the shop already exists.
    """
    if await User.exists():
        return None
    user, password, token = await create_user(ADMIN_EMAIL, Role.ADMIN, name="Admin")
    web = await ChannelAccount.create(kind="webchat", name="Web chat",
                                      secret=secrets.token_hex(32),
                                      settings={"greeting": "Hi! How can we help you today?"})
    api = await ChannelAccount.create(kind="api", name="Demo API", secret=secrets.token_hex(32))
    await CannedReply.create(shortcut="thanks", title="Thanks",
                             body="Thanks {{ contact.first_name or 'for writing' }}! "
                                  "We'll get back to you shortly.")
    await CannedReply.create(shortcut="hours", title="Opening hours",
                             body="Hi {{ contact.first_name }}, we answer Mon-Sat, 9:00-18:00.")
    for entry in DEMO_FAQ:
        await FaqEntry.create(**entry)
    return {"email": user.email, "password": password, "api_token": token,
            "webchat_account_id": web.id, "api_account_id": api.id,
            "api_account_secret": api.secret}
