"""The demo shop's calendar, marketing, reviews and listening: posts (published,
scheduled, one failed), a sequence and an A/B broadcast with opens, clicks and a converted
order, shop events for the funnel, reviews (answered, one near its 24 h deadline) and
listening rules with mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.i18n import N_
from bot.core.said import Code, Said, data, english
from bot.models import (
    Broadcast,
    ChannelAccount,
    Contact,
    Enrollment,
    ListeningRule,
    MailSend,
    Mention,
    Post,
    PostEvent,
    PostStatus,
    PostVariant,
    Review,
    Segment,
    SentimentScore,
    Sequence,
    ShopEvent,
    User,
)
from bot.services.demo.marks import MODEL, REF, SEQUENCE_KEY, SOURCE, SUFFIX, ago

# The demo's failed post, said as the publisher says a target's problem
# (scheduler.posts.publish): the network's name and Telegram's own words.
FAILED_POST_SAID = Said(N_("%(network)s: %(problem)s"), network=Code("network", "telegram"),
                        problem="Bad Request: chat not found (demo)")
FAILED_POST_ERROR = english(FAILED_POST_SAID)  # "telegram: Bad Request: chat not found (demo)"
ORDER_TOTAL = 59.0  # the broadcast's converted order


async def seed_posts(accts: dict[str, ChannelAccount], admin: User | None) -> None:
    rows = [
        ("Mới về: bộ sưu tập lụa mùa xuân 🌸", PostStatus.PUBLISHED, ago(days=2), "telegram"),
        ("Spring silk collection is in - 10% off this week with SPRING10",
         PostStatus.PUBLISHED, ago(days=1), "facebook"),
        ("Behind the scenes: how we pack your orders", PostStatus.SCHEDULED,
         ago(days=-1), "instagram"),
        ("Flash sale Saturday: free delivery on every order", PostStatus.SCHEDULED,
         ago(days=-3), "facebook"),
        ("Живой эфир в пятницу в 19:00", PostStatus.FAILED, ago(hours=5), "telegram"),
    ]
    error_i18n = data(FAILED_POST_SAID)
    for n, (text, status, due, network) in enumerate(rows):
        failed = status == PostStatus.FAILED
        post = await Post.create(text=text, status=status, due_at=due, created_by=admin,
                                 error=FAILED_POST_ERROR if failed else "",
                                 error_i18n=error_i18n if failed else None,
                                 attempts=1 if failed else 0)
        done = status == PostStatus.PUBLISHED
        await PostVariant.create(
            post=post, channel_account=accts[network], network=network,
            target="@demo_shop" if network == "telegram" else "demo-page",
            state="done" if done else "failed" if failed else "waiting",
            remote_id=f"demo-{n}" if done else None, published_at=due if done else None,
            error=FAILED_POST_ERROR if failed else "", error_i18n=error_i18n if failed else None,
            attempts=1 if done or failed else 0)
        if failed:
            await PostEvent.create(post=post, from_status="publishing", to_status="failed",
                                   reason=FAILED_POST_ERROR, reason_i18n=error_i18n)


async def seed_marketing(people: list[Contact]) -> None:
    """Shop events for the funnel, a sequence, and a broadcast whose mails were opened,
    clicked, and one converted into an order (the attribution and broadcast results)."""
    for n, person in enumerate(people):
        await _event(person, "signup", ago(days=10 - n % 5), n)
        if n % 2 == 0:
            await _event(person, "checkout_started", ago(days=8 - n % 5), n)
        if n % 3 == 0:
            await _event(person, "order_placed", ago(days=7 - n % 5), n,
                         total=f"{25 + 10 * n}.00", currency="USD")
    drip = await Sequence.create(
        key=SEQUENCE_KEY, name="Welcome" + SUFFIX, trigger="signup", exit_on=["order_placed"],
        steps=[{"send": "welcome"}, {"wait": {"days": 3}}, {"send": "winback"}],
        enabled=False)  # the demo's contacts get no real mail
    for n, person in enumerate(people[:6]):
        enrol = await Enrollment.create(sequence=drip, contact=person, state="completed",
                                        step=3, started_at=ago(days=10 - n % 5),
                                        ended_reason="finished")
        await _mail(f"demo:enr:{enrol.id}:step:0", person, ago(days=10 - n % 5),
                    opened=n % 2 == 0, clicked=n == 0, enrollment=enrol, step=0,
                    template="welcome", subject="Welcome to the shop!")
    segment = await Segment.create(name="Everyone" + SUFFIX, rules={})
    cast = await Broadcast.create(
        name="Spring sale" + SUFFIX, segment=segment, subject_a="Spring silk: 10% off",
        subject_b="Your spring wardrobe is here", body="Hi {{ contact.first_name }}, ...",
        split_percent=40, metric="opens", state="sent", winner="a")
    await Broadcast.filter(id=cast.id).update(created_at=ago(days=3, hours=2))
    sent = ago(days=3)
    for n, person in enumerate(people):
        variant = "b" if n in (1, 2) else "a"
        subject = cast.subject_b if variant == "b" else cast.subject_a
        await _mail(f"demo:b:{cast.id}:{n}", person, sent, opened=n % 3 != 2,
                    clicked=n in (0, 4, 5), broadcast=cast, variant=variant, subject=subject,
                    converted=n == 4)
    buyer = people[4]  # clicked the broadcast, then ordered
    await _event(buyer, "order_placed", ago(days=2, hours=20), 99, total=f"{ORDER_TOTAL:.2f}",
                 currency="USD")


async def _event(person: Contact, kind: str, at: datetime, n: int, **payload: Any) -> None:
    await ShopEvent.create(kind=kind, source=SOURCE, external_id=f"demo-{kind}-{n}",
                           contact=person, payload=payload, occurred_at=at)


async def _mail(key: str, person: Contact, sent: datetime, *, opened: bool, clicked: bool,
                converted: bool = False, **values: Any) -> None:
    opened = opened or clicked
    await MailSend.create(
        key=key, contact=person, to=person.email or "", message_id=f"<{key}@demo.invalid>",
        state="sent", sent_at=sent, attempts=1,
        opened_at=ago(days=2, hours=23) if opened else None, opens=1 if opened else 0,
        clicked_at=ago(days=2, hours=22) if clicked else None, clicks=1 if clicked else 0,
        converted_at=ago(days=2, hours=20) if converted else None,
        revenue=ORDER_TOTAL if converted else 0, **values)


REVIEWS = [  # (author, rating, lang, text, hours ago, answer)
    ("Linh P.", 5, "vi", "Áo đẹp, giao hàng nhanh. Sẽ ủng hộ tiếp!", 50,
     "Cảm ơn chị Linh rất nhiều!"),
    ("Piotr W.", 2, "pl", "Rozmiar nie pasuje do tabeli, zwrot trwał długo.", 22, ""),
    ("Anna S.", 4, "ru", "Хорошее качество, но упаковка помята.", 30,
     "Спасибо, Анна! Мы улучшили упаковку."),
    ("Kanya R.", 1, "th", "สินค้าไม่ตรงปก ผิดหวังมาก", 3, ""),
    ("James B.", 5, "en", "Lovely silk shirt, fits perfectly.", 80, "Thank you, James!"),
]


async def seed_reviews(admin: User | None) -> None:
    """Answered reviews, an unanswered one 2 h before its 24 h deadline, and a new one."""
    for n, (author, rating, lang, text, hours, answer) in enumerate(REVIEWS):
        label = "positive" if rating >= 4 else "negative"
        review = await Review.create(
            source=SOURCE, external_id=f"demo-{n}", rating=rating, text=text, author=author,
            product="Silk shirt", lang=lang, locale=lang, created=ago(hours=hours),
            sentiment=label, reply_state="replied" if answer else "unanswered",
            reply_text=answer, replied_at=ago(hours=hours - 3) if answer else None,
            replied_by=admin if answer else None)
        await SentimentScore.create(item_kind="review", item_id=review.id, label=label,
                                    score=0.88, model_version=MODEL,
                                    scores={label: 0.88, "neutral": 0.12})


MENTIONS = [  # (rule, author, lang, sentiment, text, hours ago)
    (0, "@mai.style", "vi", "positive", "Mới mua áo ở Demo Shop, chất lụa quá đẹp!", 6),
    (0, "tomek_k", "pl", "negative", "Demo Shop znowu spóźnia się z dostawą...", 20),
    (1, "bangkok_deals", "th", "neutral", "ร้านไหนขายเสื้อเชิ้ตผ้าไหมดีบ้าง", 30),
    (1, "fashion.ru", "ru", "positive", "Шёлковые рубашки этой весной - must have", 48),
]


async def seed_listening() -> None:
    rules = [await ListeningRule.create(name="Brand" + SUFFIX, kind="brand",
                                        query="demo shop"),
             await ListeningRule.create(name="Silk shirts" + SUFFIX, kind="keyword",
                                        query="\"silk shirt\" OR lụa OR ผ้าไหม OR шёлк")]
    for n, (rule, author, lang, sentiment, text, hours) in enumerate(MENTIONS):
        await Mention.create(rule=rules[rule], source="rss", source_ref=f"{REF}{n}",
                             author=author, url=f"https://example.com/demo/{n}", text=text,
                             lang=lang, sentiment=sentiment, sentiment_score=0.8,
                             model_version=MODEL, occurred_at=ago(hours=hours))
