"""Step-by-step exchanges with the bot, for staff: the interactive ``/post``.

``/post`` alone asks for the text, then an optional photo, then the channels (buttons to
tick), then the time (buttons, or a typed natural time), and queues the post exactly as
the one-line ``/post`` does. The state is kept by :mod:`scheduler.posts.flow_state`, so any
server process can take the next step and a restart loses nothing. Every answer offers
Cancel; a flow left alone for an hour is forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.core.channel import FLOW_PREFIX, Button, FetchesFiles, StaffAnswer, StaffInput
from bot.core.commands import Ctx, Desk, refuse
from bot.core.errors import InboxError
from bot.core.i18n import N_, _, lazy, pgettext
from bot.core.uploads import save_image
from bot.models import ChannelAccount, ChatFlow, Role, User
from bot.services.account_cache import channel_account
from scheduler.posts import flow_state, networks
from scheduler.posts.chat import parse_when, queue_post

log = logging.getLogger("switchboard.flows")
ROLES = (Role.ADMIN, Role.MARKETER)
TIMES = ((N_("In 1 hour"), "in 1h"), (N_("Tomorrow 9:00"), "tomorrow 9:00"),
         (N_("Tomorrow 18:00"), "tomorrow 18:00"))
CANCEL_PAYLOAD = f"{FLOW_PREFIX}cancel"


def _cancel() -> Button:
    """The Cancel button every answer offers, in the staff member's language."""
    return Button("✖ " + _("Cancel"), CANCEL_PAYLOAD)


active = flow_state.active  # whether a person's next message answers their flow


async def start_post(ctx: Ctx) -> StaffAnswer:
    inp = ctx.input
    await flow_state.start(inp.account_id, inp.chat_id, inp.user_external_id, "post", "text")
    return StaffAnswer("✍️ " + _("New post, step 1 of 4: send me its text."), (_cancel(),))


async def answer(desk: Desk, user: User, inp: StaffInput) -> str | StaffAnswer | None:
    """The next step of the person's flow, from what they wrote or pressed."""
    flow = await flow_state.current(inp.account_id, inp.chat_id, inp.user_external_id)
    if flow is None:
        return _("That post is no longer open (an hour passed, or it was finished). Start "
                 "again with /post.") if inp.payload else None
    if user.role not in ROLES:
        return refuse(inp, f"role {user.role} may not post", user)
    if inp.payload == CANCEL_PAYLOAD:
        await flow_state.finish(flow)
        return "✖ " + _("Cancelled. Nothing was queued.")
    ctx = Ctx(user, inp, [], desk)
    step = STEPS[flow.step]
    try:
        result = await step(ctx, flow)
    except InboxError as exc:
        return StaffAnswer(f"⚠️ {exc}", (_cancel(),))
    if isinstance(result, str):  # the post is queued: the flow is over
        await flow_state.finish(flow)
        return result
    await flow_state.save(flow)
    return result


async def _text(ctx: Ctx, flow: ChatFlow) -> StaffAnswer:
    inp = ctx.input
    if not inp.text.strip() and not inp.attachments:
        raise InboxError(lazy("send the post's text first"))
    flow.data = {"text": inp.text.strip(), "networks": []}
    if any(a.get("type") == "photo" for a in inp.attachments):  # a photo with a caption
        flow.data["media"] = await _keep_photo(ctx, inp)
        return await _ask_channels(flow)
    flow.step = "photo"
    return StaffAnswer("📷 " + _("Step 2 of 4: send a photo for the post, or skip."),
                       (Button(_("Skip") + " ➡", f"{FLOW_PREFIX}skip"), _cancel()))


async def _photo(ctx: Ctx, flow: ChatFlow) -> StaffAnswer:
    inp = ctx.input
    if inp.payload == f"{FLOW_PREFIX}skip":
        flow.data = {**flow.data, "media": []}
    elif any(a.get("type") == "photo" for a in inp.attachments):
        flow.data = {**flow.data, "media": await _keep_photo(ctx, inp)}
    else:
        raise InboxError(lazy("send a photo (as a photo, not a file), or press Skip"))
    return await _ask_channels(flow)


async def _keep_photo(ctx: Ctx, inp: StaffInput) -> list[dict[str, str]]:
    """Fetch the photo from the chat app and keep it under a public URL, as an upload."""
    photo = next(a for a in inp.attachments if a.get("type") == "photo")
    account = await channel_account(inp.account_id)
    adapter = ctx.desk.adapters.get(account.kind) if account else None
    if account is None or not isinstance(adapter, FetchesFiles):
        raise InboxError(lazy("this chat app cannot hand over photos"))
    data, name = await adapter.fetch_file(account, str(photo["file_id"]))
    try:
        return [{"url": save_image(ctx.desk.settings, data, name)}]
    except ValueError as exc:
        raise InboxError(str(exc)) from None


async def _networks() -> list[str]:
    """Networks with an enabled account that has somewhere to post."""
    publishing = networks.by_kind()
    found = {publishing[a.kind].network
             for a in await ChannelAccount.filter(enabled=True, kind__in=list(publishing))
             if networks.default_target(a.kind, a.settings)}
    return [p.network for p in publishing.values() if p.network in found]


async def _ask_channels(flow: ChatFlow, note: str = "") -> StaffAnswer:
    flow.step = "channels"
    chosen = flow.data.get("networks") or []
    available = await _networks()
    if not available:
        raise InboxError(lazy("no channel is set up for posts (an admin sets the Telegram "
                              "account's channel, or connects a Facebook Page or Instagram "
                              "account). Nothing was queued."))
    names = {p.network: p.name for p in networks.by_kind().values()}
    buttons = [Button(f"{'☑' if n in chosen else '☐'} {names[n]}", f"{FLOW_PREFIX}net:{n}")
               for n in available]
    return StaffAnswer(note + "📣 " + _("Step 3 of 4: where should it go? Tick the channels, "
                                         "then press Next."),
                       (*buttons, Button(pgettext("post step", "Next") + " ➡",
                                         f"{FLOW_PREFIX}next"), _cancel()))


async def _channels(ctx: Ctx, flow: ChatFlow) -> StaffAnswer:
    payload = ctx.input.payload or ""
    chosen: list[str] = list(flow.data.get("networks") or [])
    if payload.startswith(f"{FLOW_PREFIX}net:"):
        network = payload.rsplit(":", 1)[1]
        if network in chosen:
            chosen.remove(network)
        elif network in await _networks():
            chosen.append(network)
        flow.data = {**flow.data, "networks": chosen}
        return await _ask_channels(flow)
    if payload != f"{FLOW_PREFIX}next":
        return await _ask_channels(flow, _("Press the buttons below.") + " ")
    if not chosen:
        return await _ask_channels(flow, "⚠️ " + _("Choose at least one channel.") + " ")
    for network in chosen:  # each network's limits, before asking for a time
        try:
            networks.check_variant(network, flow.data["text"], flow.data.get("media") or [])
        except networks.PostError as exc:
            return await _ask_channels(flow, f"⚠️ {exc}. ")
    flow.step = "when"
    buttons = tuple(Button(_(label), f"{FLOW_PREFIX}when:{value}") for label, value in TIMES)
    return StaffAnswer("🕘 " + _("Step 4 of 4: when? Press a time or type one (\"fri 18:00\", "
                                "\"in 2h\", \"2026-12-01 09:00\")."), (*buttons, _cancel()))


async def _when(ctx: Ctx, flow: ChatFlow) -> str:
    payload = ctx.input.payload or ""
    typed = payload.split("when:", 1)[1] if payload.startswith(f"{FLOW_PREFIX}when:") \
        else ctx.input.text
    try:
        when = parse_when(ctx, typed)
    except InboxError as exc:
        raise InboxError(lazy("%(problem)s. Nothing is queued yet: send another time, or "
                              "press Cancel", problem=exc.args[0])) from None
    return await queue_post(ctx, flow.data["text"], flow.data.get("media") or [],
                            list(flow.data["networks"]), when)


Step = Callable[[Ctx, ChatFlow], Awaitable[str | StaffAnswer]]
STEPS: dict[str, Step] = {"text": _text, "photo": _photo, "channels": _channels, "when": _when}
