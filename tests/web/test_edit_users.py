"""Users' roles changed and users disabled on the users page: never oneself, never the last
active admin, and only by someone who manages users."""

from __future__ import annotations

import pytest

from bot.models import Role, User
from bot.services import users
from tests.conftest import Shop
from tests.web.test_web import as_admin, login


async def test_change_a_users_role_on_the_page(shop: Shop) -> None:
    agent = await shop.add_user("agent")
    csrf = await as_admin(shop)
    page = await (await shop.client.get("/admin/users")).text()
    assert f'action="/admin/users/{agent["id"]}/role"' in page
    resp = await shop.client.post(f"/admin/users/{agent['id']}/role", allow_redirects=False,
                                  data={"csrf_token": csrf, "role": "marketer"})
    assert resp.status == 302
    assert (await User.get(id=agent["id"])).role == Role.MARKETER
    resp = await shop.client.post(f"/admin/users/{agent['id']}/role",
                                  data={"csrf_token": csrf, "role": "owner"})
    assert resp.status == 400 and "Unknown role" in await resp.text()
    resp = await shop.client.post("/admin/users/999/role",
                                  data={"csrf_token": csrf, "role": "agent"})
    assert resp.status == 404
    # The removed user (disabled: their messages and notes keep their author) logs in no more.
    resp = await shop.client.post(f"/admin/users/{agent['id']}/toggle", allow_redirects=False,
                                  data={"csrf_token": csrf})
    assert resp.status == 302 and not (await User.get(id=agent["id"])).is_active


async def test_never_oneself_nor_the_last_admin(shop: Shop) -> None:
    csrf = await as_admin(shop)
    me = await User.get(email=shop.seed["email"])
    page = await (await shop.client.get("/admin/users")).text()
    assert f'action="/admin/users/{me.id}/role"' not in page  # no form for oneself
    resp = await shop.client.post(f"/admin/users/{me.id}/role",
                                  data={"csrf_token": csrf, "role": "agent"})
    assert resp.status == 409 and "change your own role" in await resp.text()
    assert (await User.get(id=me.id)).role == Role.ADMIN
    # A second admin may be demoted: one active admin stays.
    other = await shop.add_user("admin")
    resp = await shop.client.post(f"/admin/users/{other['id']}/role", allow_redirects=False,
                                  data={"csrf_token": csrf, "role": "agent"})
    assert resp.status == 302 and (await User.get(id=other["id"])).role == Role.AGENT
    # The API calls the same check.
    status, err = await shop.api("PATCH", f"/api/v1/users/{me.id}", json={"role": "agent"})
    assert status == 409 and err["error"]["code"] == "self"


async def test_the_last_active_admin_is_never_demoted_or_disabled(shop: Shop) -> None:
    """Whoever asks (the service is shared by the page, the API and the CLI)."""
    admin = await User.get(email=shop.seed["email"])
    agent = await User.get(id=(await shop.add_user("agent"))["id"])
    for changes in ({"role": "marketer"}, {"is_active": False}):
        with pytest.raises(users.LockOut, match="last active admin"):
            await users.check_lockout(admin.id, changes, agent)
    with pytest.raises(users.LockOut):
        await users.toggle_active(admin.id, agent)
    assert (await User.get(id=admin.id)).is_active
    await users.check_lockout(admin.id, {"role": "admin", "name": "x"}, agent)  # no demotion


async def test_an_agent_cannot_change_roles(shop: Shop) -> None:
    agent = await shop.add_user("agent")
    other = await shop.add_user("agent")
    csrf = await login(shop, agent["email"], agent["password"])
    for who in (agent["id"], other["id"]):
        resp = await shop.client.post(f"/admin/users/{who}/role",
                                      data={"csrf_token": csrf, "role": "admin"})
        assert resp.status == 403
    assert (await User.get(id=agent["id"])).role == Role.AGENT
    resp = await shop.client.post(f"/admin/users/{other['id']}/role",
                                  data={"role": "admin"})
    assert resp.status == 403
