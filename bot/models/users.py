"""Staff members and their logins."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    MARKETER = "marketer"


class User(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=120, default="")
    role = fields.CharEnumField(Role, max_length=16)
    password_hash = fields.CharField(max_length=255, default="")
    api_token_hash = fields.CharField(max_length=64, null=True, unique=True)
    # The staff member's Telegram user id: only linked ids may use staff chat commands.
    telegram_user_id = fields.BigIntField(null=True, unique=True)
    is_active = fields.BooleanField(default=True)
    # The staff pages' language (bot.core.i18n.LOCALES); none: the browser's Accept-Language.
    language = fields.CharField(max_length=8, null=True)
    last_assigned_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class Session(Model):
    """A staff login. The cookie holds the token, the table only its hash."""

    id = fields.CharField(max_length=64, primary_key=True)  # sha256 of the cookie token
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "sessions"

