"""Channel secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256, from the kept
``cryptography`` library) under a key derived with HKDF-SHA256 from ``settings.secret_key``.

A sealed value is text, ``sb1:`` then the Fernet token, so it fits where the plain value
was (the account's ``secret`` column, a value in its ``settings`` JSON) and tells itself
apart from a value stored before sealing existed: :func:`unseal` gives such a plain value
back as it is, so old rows keep working until :func:`seal` is applied to them (the
accounts service does that at start-up and on every save).

The key is the process's (:func:`use_settings`, called when the database opens). Every value
sealed or unsealed here is also handed to :func:`bot.core.logs.add_secret`, so no log
line shows it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.core import logs
from config import Settings, ensure_secret_key

PREFIX = "sb1:"
_INFO = b"switchboard channel secrets v1"
_fernet: Fernet | None = None
_key_source = ""


class SealError(Exception):
    """A sealed value that this process's key cannot open (the secret key changed)."""


def derive(secret_key: str) -> Fernet:
    """The Fernet key for ``secret_key`` (HKDF-SHA256, a fixed salt-free info label)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def use_key(secret_key: str) -> None:
    """Seal and unseal with the key derived from ``secret_key`` from now on."""
    global _fernet, _key_source
    if not secret_key:
        raise ValueError("secrets at rest need settings.secret_key")
    if secret_key != _key_source:
        _fernet, _key_source = derive(secret_key), secret_key
    logs.add_secret(secret_key)


def use_settings(settings: Settings) -> None:
    """The process's key from these settings (generating ``secret_key`` once if unset, as
    the app does); each of their ``Secret`` values is kept out of the logs too."""
    settings = ensure_secret_key(settings)
    logs.add_settings_secrets(settings)
    use_key(settings.secret_key.get())


def _box() -> Fernet:
    if _fernet is None:
        raise RuntimeError("bot.core.vault.use_key() was not called (the database is not open)")
    return _fernet


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(value: str) -> str:
    """``value`` sealed (a value already sealed, or empty, is given back unchanged: for
    the server's own re-saves only; a value typed in that starts with :data:`PREFIX` is
    refused before it gets here, ``bot.services.accounts``)."""
    if not value or is_sealed(value):
        return value
    logs.add_secret(value)
    return PREFIX + _box().encrypt(value.encode()).decode("ascii")


def unseal(value: str) -> str:
    """The plain value of a sealed one; a value stored before sealing, as it is."""
    if not is_sealed(value):
        return value
    try:
        plain = _box().decrypt(value[len(PREFIX):].encode("ascii")).decode()
    except (InvalidToken, ValueError, UnicodeError) as exc:
        raise SealError("a channel secret cannot be opened with this secret_key "
                        "(was settings.secret_key changed?)") from exc
    logs.add_secret(plain)
    return plain


def seal_settings(settings: Mapping[str, Any] | None, secret: Iterable[str]
                  ) -> dict[str, Any]:
    """The settings with each non-empty string value under a ``secret`` key sealed."""
    keys = frozenset(secret)
    return {k: seal(v) if k in keys and isinstance(v, str) else v
            for k, v in (settings or {}).items()}


def unseal_settings(settings: Mapping[str, Any] | None, broken: str | None = None
                    ) -> dict[str, Any]:
    """The settings with every sealed value opened (the rest as they are). A value this
    key cannot open raises SealError, or becomes ``broken`` when that is given (the admin
    pages show it as a secret to enter again)."""
    def opened(value: Any) -> Any:
        if not is_sealed(value):
            return value
        try:
            return unseal(value)
        except SealError:
            if broken is None:
                raise
            return broken
    return {k: opened(v) for k, v in (settings or {}).items()}
