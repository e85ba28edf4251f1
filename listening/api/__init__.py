"""REST API for listening and reviews: rules, feeds, mentions (and the signed mention
ingest), trends, reviews (the signed webhook, Google Business Profile review JSON,
replies), sentiment corrections, and staff alerts.

The signed entry points use an API-channel account's secret, exactly like
``POST /api/v1/inbound/{account_id}``: ``X-Switchboard-Signature: sha256=<hex
HMAC-SHA256 of the raw body>``; a wrong or missing signature gets 403 and nothing is
stored.

The handlers (``rules``, ``mentions``, ``reviews``) are thin: they call the services in
``listening`` (``ruleset``, ``feeds``, ``mentions``, ``trends``, ``corrections``,
``alerts``, ``review_desk``, ``reviews``), whose domain errors the mount answers as JSON.
The composition root mounts :func:`endpoints`.
"""

from __future__ import annotations

from bot.core.auth import Perm
from bot.core.http import Endpoint
from listening import reviews as rv
from listening.api.mentions import (
    AlertOut,
    CorrectionIn,
    CorrectionOut,
    MentionAccepted,
    MentionIn,
    MentionOut,
    MentionQuery,
    TrendQuery,
    correct,
    get_trends,
    list_alerts,
    list_corrections,
    list_mentions,
    post_mention,
    read_alert,
)
from listening.api.reviews import (
    ReplyIn,
    ReviewAccepted,
    ReviewQuery,
    get_review,
    list_reviews,
    post_google_review,
    post_review,
    reply_review,
    resolved_privately,
)
from listening.api.rules import (
    FeedIn,
    FeedOut,
    RuleIn,
    RuleOut,
    RulePatch,
    create_feed,
    create_listening_rule,
    delete_feed,
    delete_listening_rule,
    list_feeds,
    list_listening_rules,
    update_listening_rule,
)
from listening.api.signed import check_signature
from listening.review_desk import ReviewOut


def endpoints() -> list[Endpoint]:
    E, P, T, R = Endpoint, Perm, "Listening", "Reviews"
    signed = {403: "bad or missing signature", 404: "unknown API channel account"}
    return [
        E("GET", "/api/v1/listening/rules", list_listening_rules, "Listening rules", T,
          P.LISTENING_READ, response=RuleOut, many=True),
        E("POST", "/api/v1/listening/rules", create_listening_rule, "Add a listening rule", T,
          P.LISTENING_WRITE, body=RuleIn, response=RuleOut, status=201,
          responses={409: "the name is taken", 422: "the query does not parse"}),
        E("PATCH", "/api/v1/listening/rules/{rule_id}", update_listening_rule, "Change a rule", T,
          P.LISTENING_WRITE, body=RulePatch, response=RuleOut,
          responses={409: "the name is taken", 422: "the query does not parse"}),
        E("DELETE", "/api/v1/listening/rules/{rule_id}", delete_listening_rule,
          "Delete a rule and its mentions", T, P.LISTENING_WRITE, status=204),
        E("GET", "/api/v1/listening/feeds", list_feeds, "RSS and Atom feeds polled", T,
          P.LISTENING_READ, response=FeedOut, many=True),
        E("POST", "/api/v1/listening/feeds", create_feed, "Poll a feed for mentions", T,
          P.LISTENING_WRITE, body=FeedIn, response=FeedOut, status=201),
        E("DELETE", "/api/v1/listening/feeds/{feed_id}", delete_feed, "Stop polling a feed",
          T, P.LISTENING_WRITE, status=204),
        E("GET", "/api/v1/listening/mentions", list_mentions, "Mentions, newest first", T,
          P.LISTENING_READ, query=MentionQuery, response=MentionOut, many=True),
        E("POST", "/api/v1/mentions/{account_id}", post_mention, "Feed an item (a post, a "
          "comment, an article) to the listening rules, signed with an API channel "
          "account's secret", T, None, body=MentionIn, response=MentionAccepted,
          status=201, raw_check=check_signature, security="signature",
          responses={200: "matched no rule, or already stored", **signed}),
        E("GET", "/api/v1/listening/trends", get_trends, "Volume and sentiment per rule, "
          "share of voice, and the top terms of negative mentions per language", T,
          P.LISTENING_READ, query=TrendQuery),
        E("GET", "/api/v1/reviews", list_reviews, "Reviews, unanswered first by deadline", R,
          P.REVIEWS_READ, query=ReviewQuery, response=ReviewOut, many=True),
        E("GET", "/api/v1/reviews/{review_id}", get_review, "A review with its clock and a "
          "suggested reply", R, P.REVIEWS_READ, response=ReviewOut),
        E("POST", "/api/v1/reviews/{review_id}/reply", reply_review, "Answer a review: "
          "sent back to the source where it takes replies, else stored", R,
          P.REVIEWS_WRITE, body=ReplyIn, response=ReviewOut),
        E("POST", "/api/v1/reviews/{review_id}/resolved-privately", resolved_privately,
          "Mark a review resolved in private (the suggestion becomes a public follow-up)",
          R, P.REVIEWS_WRITE, response=ReviewOut),
        E("POST", "/api/v1/reviews/inbound/{account_id}", post_review, "A review from the "
          "shop's platform, signed with an API channel account's secret", R, None,
          body=rv.ReviewIn, response=ReviewAccepted, status=201,
          raw_check=check_signature, security="signature",
          responses={200: "already stored (same source and id)", **signed}),
        E("POST", "/api/v1/reviews/google/{account_id}", post_google_review, "A Google "
          "Business Profile review (its Review JSON), signed with an API channel "
          "account's secret", R, None, body=rv.GoogleReview, response=ReviewAccepted,
          status=201, raw_check=check_signature, security="signature",
          responses={200: "already stored (same reviewId)", **signed}),
        E("POST", "/api/v1/sentiment/corrections", correct, "Correct the sentiment of a "
          "message, review or mention (kept for the eval and as training rows)", T,
          P.INBOX_WRITE, body=CorrectionIn, response=CorrectionOut, status=201),
        E("GET", "/api/v1/sentiment/corrections", list_corrections, "Staff corrections, "
          "as training rows", T, P.LISTENING_READ, response=CorrectionOut, many=True),
        E("GET", "/api/v1/alerts", list_alerts, "Staff alerts (spikes, reviews near their "
          "deadline)", T, P.INBOX_READ, response=AlertOut, many=True),
        E("POST", "/api/v1/alerts/{alert_id}/read", read_alert, "Mark an alert read", T,
          P.INBOX_READ, status=204),
    ]

