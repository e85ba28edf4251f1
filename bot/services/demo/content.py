"""Seed the demo content once, then refresh the report roll-ups so it shows at once."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from bot.models import Role, User
from bot.services.demo import inbox, shop
from bot.services.demo.marks import present
from bot.services.reports import inbox_facts, shop_facts


async def seed_content() -> bool:
    """Write the demo shop's content (True), or nothing if it is there already (False)."""
    if await present():
        return False
    admin = await User.filter(role=Role.ADMIN).order_by("id").first()
    async with in_transaction():
        accts = await inbox.accounts()
        people = await inbox.seed_inbox(admin, accts)
        await shop.seed_posts(accts, admin)
        await shop.seed_marketing(people)
        await shop.seed_reviews(admin)
        await shop.seed_listening()
    await refresh_reports()
    return True


async def refresh_reports() -> None:
    """Bring the dashboard's and the reports' roll-ups up to date now (the clock would,
    a while later)."""
    while await inbox_facts.refresh():
        pass
    await shop_facts.refresh_all()
