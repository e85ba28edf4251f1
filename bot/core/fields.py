"""Roles apply to fields, not only to routes.

A route's permission says who may call it; some answers also carry fields from another
domain (a contact's conversations and their previews are the inbox's). Such fields are
declared once, beside the data, in a field -> permission map, and :func:`readable` leaves
out every field whose permission the reader's role lacks. The REST endpoints and the pages
apply the same map, so a marketer (contacts, no inbox) sees a contact without the
conversations on the API and on the page alike; the OpenAPI document names the
permission of each such field (``x-permission``, via :func:`requires`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.auth import Perm, has_perm
from bot.models import User

FieldPerms = Mapping[str, Perm]


def readable(data: dict[str, Any], perms: FieldPerms, user: User | None) -> dict[str, Any]:
    """``data`` without the fields of ``perms`` that ``user`` may not read (all of them
    for no user: a caller that is not someone sees nothing guarded)."""
    hidden = {name for name, perm in perms.items()
              if name in data and (user is None or not has_perm(user, perm))}
    return {k: v for k, v in data.items() if k not in hidden} if hidden else data


def requires(perm: Perm) -> dict[str, Any]:
    """The ``json_schema_extra`` of a guarded field: the document says who sees it."""
    return {"x-permission": perm.value,
            "description": f"Only for roles that may {perm.value}; left out for others."}
