"""Posts: each network's limits before queueing, and the recorded, role-checked workflow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import database
from bot.core.auth import create_user
from bot.models import Post, PostEvent, PostStatus, Role
from config import Settings
from scheduler.posts import service
from scheduler.posts.networks import PostError, check_variant
from scheduler.posts.service import move

IMG = [{"url": "https://shop.example/boots.jpg"}]


@pytest.mark.parametrize(("network", "text", "media", "error"), [
    ("telegram", "x" * 4096, [], None),
    ("telegram", "x" * 4097, [], "Telegram allows at most 4,096 characters of text"),
    ("telegram", "x" * 1025, IMG, "Telegram allows at most 1,024 characters in a caption"),
    ("facebook", "x" * 63206, [], None),
    ("facebook", "x" * 63207, [], "Facebook allows at most 63,206 characters"),
    ("instagram", "nice", [], "Instagram posts need at least one image"),
    ("instagram", "x" * 2201, IMG, "Instagram allows at most 2,200 characters"),
    ("instagram", " ".join(f"#t{i}" for i in range(31)), IMG,
     "Instagram allows at most 30 hashtags; this post has 31"),
    ("instagram", " ".join(f"#t{i}" for i in range(30)), IMG, None),
    ("myspace", "hi", [], "unknown network"),
])
def test_network_limits(network: str, text: str, media: list[dict[str, str]],
                        error: str | None) -> None:
    if error is None:
        check_variant(network, text, media)
    else:
        with pytest.raises(PostError, match=error):
            check_variant(network, text, media)


@pytest.fixture
async def db(any_db: Settings) -> AsyncIterator[None]:
    async with database(any_db):
        yield


async def test_workflow_is_recorded_and_role_checked(db: None) -> None:
    admin = (await create_user("a@shop.test", Role.ADMIN))[0]
    marketer = (await create_user("m@shop.test", Role.MARKETER))[0]
    agent = (await create_user("g@shop.test", Role.AGENT))[0]
    post = await Post.create(text="Spring sale", created_by=marketer)
    await move(post.id, PostStatus.IN_REVIEW, marketer, "please check")
    with pytest.raises(PostError, match="only an admin can make a in review post approved"):
        await move(post.id, PostStatus.APPROVED, marketer)
    await move(post.id, PostStatus.DRAFT, admin, "price is wrong")
    with pytest.raises(PostError, match="only a marketer or admin"):
        await move(post.id, PostStatus.IN_REVIEW, agent)
    await move(post.id, PostStatus.IN_REVIEW, marketer, "fixed")
    await move(post.id, PostStatus.APPROVED, admin)
    when = datetime.now(UTC) + timedelta(days=1)
    await move(post.id, PostStatus.SCHEDULED, marketer, due_at=when)
    with pytest.raises(PostError, match="a scheduled post cannot become published"):
        await move(post.id, PostStatus.PUBLISHED, admin)
    with pytest.raises(PostError):  # only the clock publishes
        await move(post.id, PostStatus.PUBLISHING, admin)
    events = await PostEvent.filter(post_id=post.id).order_by("id").values(
        "from_status", "to_status", "user__email", "reason")
    assert [(e["from_status"], e["to_status"], e["user__email"], e["reason"])
            for e in events] == [
        ("draft", "in_review", "m@shop.test", "please check"),
        ("in_review", "draft", "a@shop.test", "price is wrong"),
        ("draft", "in_review", "m@shop.test", "fixed"),
        ("in_review", "approved", "a@shop.test", ""),
        ("approved", "scheduled", "m@shop.test", ""),
    ]
    stored = await Post.get(id=post.id)
    assert stored.status == "scheduled" and stored.due_at == when


async def test_racing_moves_have_one_winner(db: None) -> None:
    admin = (await create_user("a@shop.test", Role.ADMIN))[0]
    post = await Post.create(text="x", status=PostStatus.SCHEDULED)
    results = await asyncio.gather(
        move(post.id, PostStatus.CANCELLED, admin), move(post.id, PostStatus.DRAFT, admin),
        return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert await PostEvent.filter(post_id=post.id).count() == 1


async def test_review_keeps_its_reason_and_approval_schedules_in_one_go(
        db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = (await create_user("a@shop.test", Role.ADMIN))[0]
    marketer = (await create_user("m@shop.test", Role.MARKETER))[0]
    post = await Post.create(text="Spring sale", created_by=marketer)
    when = datetime.now(UTC) + timedelta(days=1)
    sent = await service.schedule(post.id, marketer, when, True, or_review=True,
                                  review_reason="from Telegram")
    assert sent.status == "in_review" and (await Post.get(id=post.id)).due_at == when
    last = await PostEvent.filter(post_id=post.id).order_by("-id").first()
    assert last is not None and last.reason == "from Telegram"
    # Approving and scheduling is one transaction: when the second move fails, the first
    # is undone too (no "approved" record, still in review).
    monkeypatch.delitem(service.MOVES, (PostStatus.APPROVED, PostStatus.SCHEDULED))
    with pytest.raises(PostError):
        await service.approve(post.id, admin)
    assert (await Post.get(id=post.id)).status == "in_review"
    assert not await PostEvent.filter(post_id=post.id, to_status="approved").exists()
    monkeypatch.undo()
    assert (await service.approve(post.id, admin)).status == "scheduled"
    assert [e.to_status for e in await PostEvent.filter(post_id=post.id).order_by("id")] == [
        "in_review", "approved", "scheduled"]
