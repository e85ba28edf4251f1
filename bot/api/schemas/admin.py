"""The admin API's models: staff users and channel accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from bot.api.schemas.common import Email
from bot.core.clean import MAX_BIG
from bot.core.http import Strict, omissible
from bot.models import Role
from channels import registry

UserName = Annotated[str, Field(max_length=120)]  # the users table's column


class UserIn(Strict):
    email: Email
    role: Role
    name: UserName = ""
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None


class UserPatch(Strict):
    name: UserName = omissible()
    role: Role = omissible()
    is_active: bool = omissible()
    telegram_user_id: Annotated[int, Field(gt=0, le=MAX_BIG)] | None = Field(
        None, description="Link the user's Telegram account: staff chat commands and "
                          "replies are accepted only from linked ids.")


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    telegram_user_id: int | None = None
    created_at: datetime


class UserCreated(UserOut):
    password: str = Field(description="Shown once.")
    api_token: str = Field(description="Shown once.")


def _known_kind(kind: str) -> str:
    if kind not in registry.REGISTRY:
        raise ValueError(f"unknown channel kind; known: {', '.join(registry.kinds())}")
    return kind


ChannelKind = Annotated[str, AfterValidator(_known_kind),
                        Field(json_schema_extra={"enum": registry.kinds()})]


class ChannelIn(Strict):
    kind: ChannelKind
    name: Annotated[str, Field(min_length=1, max_length=120)]
    callback_url: Annotated[str, Field(max_length=500, pattern=r"^(https?://\S+)?$")] = ""
    settings: dict[str, Any] = Field(default_factory=dict)


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    callback_url: str
    settings: dict[str, Any]
    enabled: bool
    created_at: datetime


class ChannelPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] = omissible()
    callback_url: Annotated[str, Field(max_length=500, pattern=r"^(https?://\S+)?$")] = \
        omissible()
    settings: dict[str, Any] = omissible(
        description="Merged into the stored settings; null removes a key; a masked "
                    "secret sent back unchanged keeps the stored one. Telegram: token, "
                    "api_base_url, mode, staff_chat_id, staff_notify (all, unassigned, "
                    "needs_human, off), bot (true/false).")
    enabled: bool = omissible()


class ChannelCreated(ChannelOut):
    secret: str = Field(description="Signs inbound bodies and callbacks. Shown once.")
