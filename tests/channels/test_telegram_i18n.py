"""Issue 22 point 1: the bot answers staff in Telegram in their language (their setting,
else Telegram's ``language_code``, else English), with times per locale in the shop's
timezone, against the fake Bot API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.models import Post, User
from tests.channels.test_telegram import TOKEN, Telegram, fake_api, until
from tests.channels.test_telegram_posts import ME, marketers_shop
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegram

__all__ = ["fake_api"]


@pytest.fixture
async def tg(aiohttp_client: Any, tmp_path: Path,
             fake_api: tuple[FakeTelegram, str]) -> Telegram:
    return await marketers_shop(aiohttp_client, fake_api, make_settings(
        tmp_path, shop_timezone="Asia/Ho_Chi_Minh", posts_require_approval=False))


async def say(tg: Telegram, text: str, user: int = ME, language_code: str = "en") -> str:
    before = len([s for s in tg.bot.sent if str(s["chat_id"]) == str(user)])
    tg.fake.push(TOKEN, tg.fake.private_message(user, text, language_code=language_code))

    async def answered() -> str | None:
        mine = [s for s in tg.bot.sent if str(s["chat_id"]) == str(user)]
        return str(mine[-1]["text"]) if len(mine) > before else None
    return str(await until(answered))


async def test_a_vietnamese_marketer_is_answered_in_vietnamese(tg: Telegram) -> None:
    await User.filter(telegram_user_id=ME).update(language="vi")
    assert await say(tg, "/queue") == "Hàng đợi trống."
    answer = await say(tg, "/post 2030-03-08 09:00 #tg Khuyến mãi!")
    # Babel's Vietnamese date, the time in the shop's timezone (09:00 +07 is 02:00 UTC).
    assert answer.startswith("✅ Đã lên lịch bài đăng #"), answer
    assert "09:00 Thứ 6, 8 thg 3" in answer and "(+07)" in answer, answer
    post = await Post.get(id=int(answer.split("#", 1)[1].split(" ", 1)[0]))
    assert post.due_at is not None and post.due_at.hour == 2
    bad = await say(tg, "/post yesterday #tg x")  # a service's error, in the same language
    assert "Tôi không hiểu 'yesterday' là thời gian nào" in bad and "Chưa có gì" in bad, bad
    assert "vai trò của bạn (nhân viên tiếp thị)" in await say(tg, "/approve 1")


async def test_without_a_setting_telegrams_language_is_used(tg: Telegram) -> None:
    assert await say(tg, "/queue", language_code="ru") == "Очередь пуста."
    assert await say(tg, "/queue", language_code="fr") == "The queue is empty."
    stranger = await say(tg, "/queue", user=5151, language_code="km")
    assert stranger.startswith("⛔ សូមអភ័យទោស") and "5151" in stranger
    await User.filter(telegram_user_id=ME).update(language="pl")  # the setting wins
    assert await say(tg, "/queue", language_code="ru") == "Kolejka jest pusta."
