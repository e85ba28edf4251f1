"""SWITCHBOARD_SLA_TARGETS: parsed per channel, and a bad value is one clear error line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from config import ConfigError
from config.sla import parse
from tests.conftest import make_settings


def test_targets_per_channel_with_a_default() -> None:
    t = parse("*=2h/3d, webchat=15m/8h, Email=4h/2d")
    assert t.for_channel("webchat").first_response == timedelta(minutes=15)
    assert t.for_channel("webchat").resolution == timedelta(hours=8)
    assert t.for_channel("email").resolution == timedelta(days=2)
    assert t.for_channel("telegram").first_response == timedelta(hours=2)
    assert parse("").for_channel("x").resolution == timedelta(hours=24)
    assert parse("webchat=0.5h/1d").for_channel("other").first_response == timedelta(hours=1)


@pytest.mark.parametrize("spec", ["webchat", "webchat=15m", "webchat=15/8h", "=1h/2h",
                                  "webchat=0m/1h", "a=1h/2h, a=2h/3h", "*=1w/2h"])
def test_a_bad_value_is_one_clear_line(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path, sla_targets=spec)
    assert str(err.value).startswith("SWITCHBOARD_SLA_TARGETS:")
