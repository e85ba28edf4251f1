"""Typed settings: environment over TOML over defaults, secrets masked, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, Secret, describe_settings, ensure_secret_key, load_settings
from tests.conftest import ROOT


def test_env_overrides_toml_overrides_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "sb.toml"
    toml.write_text('[switchboard]\nport = 9000\nhost = "0.0.0.0"\nsecret_key = "s3cret"\n')
    s = load_settings({"SWITCHBOARD_CONFIG": str(toml), "SWITCHBOARD_PORT": "9100"})
    assert s.port == 9100 and s.host == "0.0.0.0"
    assert s.secret_key.get() == "s3cret"
    assert s.max_body_bytes == 256 * 1024  # default


def test_secrets_never_show(tmp_path: Path) -> None:
    s = load_settings({"SWITCHBOARD_SECRET_KEY": "hunter2-very-secret"})
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.secret_key)
    with pytest.raises(ConfigError) as err:
        load_settings({"SWITCHBOARD_DATABASE_URL": "mysql://u:pw@h/db"})
    assert "pw" not in str(err.value)
    assert repr(Secret("x")) == "Secret('**********')"


def test_bad_values_name_the_variable(tmp_path: Path) -> None:
    for env, name in [({"SWITCHBOARD_MAX_BODY_BYTES": "-1"}, "SWITCHBOARD_MAX_BODY_BYTES"),
                      ({"SWITCHBOARD_COOKIE_SECURE": "maybe"}, "SWITCHBOARD_COOKIE_SECURE"),
                      ({"SWITCHBOARD_REOPEN_WINDOW_HOURS": "x"},
                       "SWITCHBOARD_REOPEN_WINDOW_HOURS")]:
        with pytest.raises(ConfigError) as err:
            load_settings(env)
        assert str(err.value).startswith(name) and "\n" not in str(err.value)
    bad = tmp_path / "bad.toml"
    bad.write_text("port = [")
    with pytest.raises(ConfigError, match="SWITCHBOARD_CONFIG"):
        load_settings({"SWITCHBOARD_CONFIG": str(bad)})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings({"SWITCHBOARD_CONFIG": str(unknown)})


def test_generated_secret_key_is_kept(tmp_path: Path) -> None:
    s = load_settings({"SWITCHBOARD_DATA_DIR": str(tmp_path)})
    first = ensure_secret_key(s).secret_key.get()
    assert len(first) > 40 and ensure_secret_key(s).secret_key.get() == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_every_setting_is_documented() -> None:
    rows = describe_settings()
    assert all(doc for _, _, doc in rows)
    readme = (ROOT / "README.md").read_text()
    missing = [env for env, _, _ in rows if env not in readme]
    assert not missing, f"README does not describe {missing}"


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("TRUSTED_PROXIES", "10.0.0.1, 10.0.0.300", "10.0.0.300"),
    ("TRUSTED_PROXIES", "proxy.local", "proxy.local"),
    ("METRICS_ADDRESSES", "192.168.1.0/33", "192.168.1.0/33"),
    ("LOGIN_LIMIT_ADDRESS", "20 a minute", "20 a minute"),
    ("LOGIN_LIMIT_ACCOUNT", "5/minute;;", "5/minute;;"),
    ("PUBLIC_LIMIT_ADDRESS", "0/minute", "0/minute"),
])
def test_networks_and_limits_are_checked_at_load(name: str, value: str, shown: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({f"SWITCHBOARD_{name}": value})
    assert str(err.value).startswith(f"SWITCHBOARD_{name}:") and shown in str(err.value)
    assert "\n" not in str(err.value)


def test_good_networks_and_limits_load_and_empty_turns_a_limit_off() -> None:
    s = load_settings({"SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1, ::1, 10.0.0.0/8",
                       "SWITCHBOARD_METRICS_ADDRESSES": "192.168.1.0/24,fd00::/8",
                       "SWITCHBOARD_LOGIN_LIMIT_ADDRESS": "",
                       "SWITCHBOARD_LOGIN_LIMIT_ACCOUNT": "  ",
                       "SWITCHBOARD_PUBLIC_LIMIT_ADDRESS": "10 per minute; 100/hour"})
    assert s.login_limit_address == "" and s.trusted_proxies.startswith("127.0.0.1")


@pytest.mark.parametrize("name", ["PASSWORD_HASH_THREADS", "SIGNED_LINK_DAYS",
                                  "QUARANTINE_TRIES", "TEMPLATE_TIMEOUT_SECONDS",
                                  "TEMPLATE_MAX_BYTES", "REGEX_TIMEOUT_MS"])
def test_the_security_numbers_must_be_positive(name: str) -> None:
    for value in ("0", "-1"):
        with pytest.raises(ConfigError) as err:
            load_settings({f"SWITCHBOARD_{name}": value})
        assert str(err.value).startswith(f"SWITCHBOARD_{name}: must be positive")


@pytest.mark.parametrize("name", ["FOLLOWUP_LEASE_SECONDS", "FOLLOWUP_MAX_ATTEMPTS",
                                  "FOLLOWUP_BACKOFF_SECONDS"])
def test_the_followup_numbers_must_be_positive(name: str) -> None:
    """0 attempts would claim nothing ever (silently); a 0 s lease re-claims running rows."""
    for value in ("0", "-1"):
        with pytest.raises(ConfigError) as err:
            load_settings({f"SWITCHBOARD_{name}": value})
        assert str(err.value).startswith(f"SWITCHBOARD_{name}: must be positive")
        assert "\n" not in str(err.value)


def test_followup_max_attempts_is_bounded() -> None:
    """The retry delay doubles each attempt: a huge count would overflow it."""
    with pytest.raises(ConfigError) as err:
        load_settings({"SWITCHBOARD_FOLLOWUP_MAX_ATTEMPTS": "5000"})
    assert str(err.value) == "SWITCHBOARD_FOLLOWUP_MAX_ATTEMPTS: must be at most 30 (got 5000)"
    assert load_settings({"SWITCHBOARD_FOLLOWUP_MAX_ATTEMPTS": "30"}).followup_max_attempts == 30
