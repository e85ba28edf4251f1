"""Tortoise models, split by domain and re-exported here: Tortoise registers the app with
``"models": ["bot.models"]`` and finds every model among this package's names, and
``from bot.models import X`` works for every model. Schema changes go through
``tortoise makemigrations``; a new model module must be imported here."""

from __future__ import annotations

from bot.models.alerts import StaffAlert
from bot.models.automation import ChatFlow, FaqEntry, Rule
from bot.models.contacts import ChannelAccount, Contact, Identity
from bot.models.imports import ImportFailure
from bot.models.inbox import (
    CannedReply,
    Conversation,
    ConversationStatus,
    CsatRating,
    DeliveryStatus,
    Direction,
    Label,
    Message,
    MessageAttachment,
    Note,
    NoteRevision,
    SavedView,
    StaffNotification,
)
from bot.models.listening import (
    Feed,
    FeedEntry,
    ListeningRule,
    Mention,
    Review,
    SentimentCorrection,
    SentimentScore,
)
from bot.models.marketing import Broadcast, Enrollment, MailSend, Segment, Sequence, ShopEvent
from bot.models.posts import (
    Post,
    PostClick,
    PostEvent,
    PostStatus,
    PostVariant,
)
from bot.models.reports import (
    AgentFact,
    ConversationEvent,
    ConversationFact,
    FaqMiss,
    ReportState,
)
from bot.models.shop_reports import (
    CampaignClick,
    ContactCommerce,
    OrderDay,
    OrderFact,
    ReviewFact,
    SentimentDay,
    SentimentFact,
    ShopReportState,
)
from bot.models.users import Role, Session, User
from bot.models.work import Followup, Lease

__all__ = [
    "AgentFact", "ConversationEvent", "ConversationFact", "FaqMiss", "ShopReportState",
    "Broadcast", "CampaignClick", "CannedReply", "ChannelAccount", "ChatFlow", "Contact",
    "ContactCommerce", "Conversation", "ConversationStatus", "CsatRating", "DeliveryStatus",
    "Direction", "Enrollment", "Followup", "Lease",
    "FaqEntry", "Feed", "FeedEntry", "Identity", "ImportFailure", "Label", "ListeningRule",
    "MailSend",
    "Mention", "Message", "MessageAttachment",
    "Note", "NoteRevision", "SavedView", "OrderDay", "OrderFact", "Post",
    "PostClick", "PostEvent", "PostStatus", "PostVariant", "ReportState", "Review",
    "ReviewFact", "Role",
    "Rule", "Segment", "SentimentCorrection", "SentimentDay", "SentimentFact",
    "SentimentScore", "Sequence", "Session", "ShopEvent", "StaffAlert", "StaffNotification",
    "User",
]
