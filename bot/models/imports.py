"""Items a channel loop could not store: counted per try, then quarantined."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ImportFailure(Model):
    """An item from outside (a mail, a Telegram update, a feed entry, a review) that a
    channel loop failed to store. Each failed try counts; after ``quarantine_tries`` the
    item is quarantined: kept raw here (``body``), listed for an admin as "could not
    import", and the loop moves past it instead of retrying it forever."""

    id = fields.IntField(primary_key=True)
    source = fields.CharField(max_length=32)  # imap, telegram, feed, reviews, …
    # the channel account or feed; 0 when none (not NULL: a unique key treats NULLs as apart)
    account_id = fields.IntField(default=0)
    key = fields.CharField(max_length=255)  # the item's id in its source (fitted)
    body = fields.TextField(default="")  # the item as it came, raw, for an admin to look at
    error = fields.CharField(max_length=500, default="")
    tries = fields.IntField(default=0)
    quarantined = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    resolved_at = fields.DatetimeField(null=True)  # an admin dismissed or re-imported it

    class Meta:
        table = "import_failures"
        unique_together = (("source", "account_id", "key"),)
