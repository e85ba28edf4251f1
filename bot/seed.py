"""The demo shop seeded into an empty database on first start."""

from __future__ import annotations

from typing import Any

from bot.auth import create_user
from bot.models import CannedReply, ChannelAccount, Role, User

ADMIN_EMAIL = "admin@example.com"


async def seed_demo(settings: Any) -> dict[str, Any] | None:
    """Create a web-chat account, an API account, an admin and two canned replies.

    Returns the credentials (shown once) when it seeded, None if the shop already exists.
    """
    if await User.exists():
        return None
    import secrets

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
    return {"email": user.email, "password": password, "api_token": token,
            "webchat_account_id": web.id, "api_account_id": api.id,
            "api_account_secret": api.secret}
