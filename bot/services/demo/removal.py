"""Remove exactly the demo rows (in one transaction), and their figures from the report
roll-ups; the shop's own rows stay."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.models import (
    AgentFact,
    Broadcast,
    CampaignClick,
    ChannelAccount,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationFact,
    FaqMiss,
    Label,
    ListeningRule,
    MailSend,
    Mention,
    Message,
    Post,
    PostClick,
    PostVariant,
    Review,
    ReviewFact,
    Segment,
    SentimentDay,
    SentimentFact,
    SentimentScore,
    Sequence,
    ShopEvent,
    StaffAlert,
)
from bot.services.demo.inbox import CHATS
from bot.services.demo.marks import LABEL, MODEL, REF, SEQUENCE_KEY, SOURCE, SUFFIX
from bot.services.reports import shop_facts
from bot.services.reports.sql import execute

_SENTIMENT_DAYS = ("UPDATE report_sentiment_days SET n = n - ? WHERE day = ? AND "
                   "channel = ? AND lang = ? AND label = ?")


async def remove() -> dict[str, int]:
    """Delete the demo content; returns how many of its main rows went."""
    async with in_transaction() as conn:
        accounts = await ChannelAccount.filter(name__endswith=SUFFIX).using_db(
            conn).values_list("id", flat=True)
        people = [c.id for c in await Contact.filter(
            name__endswith=SUFFIX, email__endswith="@demo.invalid").using_db(conn).only("id")]
        convs = await Conversation.filter(channel_account_id__in=accounts).using_db(
            conn).values_list("id", flat=True)
        messages = await Message.filter(conversation_id__in=convs).using_db(
            conn).values_list("id", flat=True)
        reviews = await Review.filter(source=SOURCE, external_id__startswith="demo-"
                                      ).using_db(conn).values_list("id", flat=True)
        posts = await PostVariant.filter(channel_account_id__in=accounts).using_db(
            conn).values_list("post_id", flat=True)
        mails = await MailSend.filter(contact_id__in=people).using_db(conn).values_list(
            "id", flat=True)
        rules = ListeningRule.filter(name__endswith=SUFFIX).using_db(conn)
        mentions = [f"mention:{ref}" for ref in await Mention.filter(
            rule__name__endswith=SUFFIX, source_ref__startswith=REF).using_db(
            conn).values_list("source_ref", flat=True)]
        # the roll-ups first, while the raw rows can still be read
        await _forget_sentiment(conn, [f"message:{i}" for i in messages]
                                + [f"review:{i}" for i in reviews] + mentions)
        for model in (ConversationFact, AgentFact, ConversationEvent, FaqMiss):
            await model.filter(conversation_id__in=convs).using_db(conn).delete()
        await ReviewFact.filter(review_id__in=reviews).using_db(conn).delete()
        await CampaignClick.filter(mail_id__in=mails).using_db(conn).delete()
        await shop_facts.forget(conn, people)
        # then the rows themselves
        # the demo's own scores, and the running model's scores of demo items
        await SentimentScore.filter(
            Q(model_version=MODEL) | Q(item_kind="message", item_id__in=messages)
            | Q(item_kind="review", item_id__in=reviews)).using_db(conn).delete()
        await StaffAlert.filter(key__in=[f"review:{i}" for i in reviews]).using_db(
            conn).delete()  # a demo review's deadline alert
        await Conversation.filter(id__in=convs).using_db(conn).delete()  # messages, notes...
        await PostClick.filter(post_id__in=posts).using_db(conn).delete()
        await Post.filter(id__in=posts).using_db(conn).delete()  # variants, events
        await ShopEvent.filter(source=SOURCE, contact_id__in=people).using_db(conn).delete()
        await MailSend.filter(id__in=mails).using_db(conn).delete()
        await Sequence.filter(key=SEQUENCE_KEY).using_db(conn).delete()  # enrolments
        casts = Broadcast.filter(name__endswith=SUFFIX).using_db(conn)
        segments = await casts.values_list("segment_id", flat=True)
        await casts.delete()
        await Segment.filter(id__in=segments, name__endswith=SUFFIX).using_db(conn).delete()
        await Contact.filter(id__in=people).using_db(conn).delete()  # identities
        await ChannelAccount.filter(id__in=accounts).using_db(conn).delete()
        await Review.filter(id__in=reviews).using_db(conn).delete()
        n_rules = await rules.delete()  # and their mentions
        await _drop_labels(conn)
    return {"conversations": len(convs), "contacts": len(people), "posts": len(set(posts)),
            "reviews": len(reviews), "mails": len(mails), "rules": n_rules}


async def _forget_sentiment(conn: Any, items: list[str]) -> None:
    """Take these items out of the sentiment roll-up and its day counts."""
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    facts = SentimentFact.filter(item__in=items).using_db(conn)
    for row in await facts.values("day", "channel", "lang", "label"):
        counts[row["day"], row["channel"], row["lang"], row["label"]] += 1
    await execute(conn, _SENTIMENT_DAYS, [[n, *k] for k, n in counts.items()])
    await SentimentDay.filter(n__lte=0).using_db(conn).delete()
    await facts.delete()


async def _drop_labels(conn: Any) -> None:
    """The ``demo`` label, and the demo's other labels no conversation uses any more."""
    await Label.filter(name=LABEL).using_db(conn).delete()
    for name in {x for chat in CHATS for x in chat.labels}:
        if not await Conversation.filter(labels__name=name).using_db(conn).exists():
            await Label.filter(name=name).using_db(conn).delete()
