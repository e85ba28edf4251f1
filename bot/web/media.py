"""Images for posts: uploaded by staff, then served at a public URL, because Telegram and
Meta fetch a post's images by URL.

``POST /media`` takes the image as the raw body (``Content-Type: image/…``), streamed to
disk under ``<data_dir>/uploads`` with its own size limit (the app-wide body limit is far
smaller), and answers with the URL to put in a post's ``media``. It lives outside
``/api/v1`` because every route there reads its body under that small limit; it takes the
same credentials (a bearer token, or a browser session with ``X-CSRF-Token``).
"""

from __future__ import annotations

import re

from aiohttp import web

from bot.core.auth import Perm, authenticate_api, has_perm
from bot.core.http import error_response
from bot.core.keys import SETTINGS
from bot.core.uploads import TYPES, new_file, public_url

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(jpg|png|webp|gif)$")


async def upload(request: web.Request) -> web.Response:
    user = await authenticate_api(request)
    if user is None:
        return error_response(401, "unauthorized", "log in or send a bearer token")
    if not has_perm(user, Perm.POSTS_WRITE):
        return error_response(403, "forbidden", f"role {user.role} may not upload images")
    ext = TYPES.get(request.content_type)
    if ext is None:
        return error_response(415, "unsupported_media_type",
                              f"send the image itself with Content-Type one of "
                              f"{', '.join(TYPES)} (got {request.content_type or 'none'})")
    settings = request.app[SETTINGS]
    limit = settings.max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        return error_response(413, "too_large", f"images may be at most {limit:,} bytes")
    path = new_file(settings, ext)
    name = path.name
    size = 0
    with path.open("wb") as fh:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                fh.close()
                path.unlink(missing_ok=True)
                return error_response(413, "too_large",
                                      f"images may be at most {limit:,} bytes")
            fh.write(chunk)
    if size == 0:
        path.unlink(missing_ok=True)
        return error_response(400, "empty", "the body is empty: send the image bytes")
    return web.json_response({"url": public_url(settings, name, request.host), "name": name,
                              "bytes": size}, status=201)


async def serve(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.app[SETTINGS].data_dir / "uploads" / name
    if not _NAME.match(name) or not path.is_file():
        raise web.HTTPNotFound(text="no such image")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400",
                                           "X-Content-Type-Options": "nosniff"})


upload.perm = Perm.POSTS_WRITE  # type: ignore[attr-defined]  # checked inside


def setup(app: web.Application) -> None:
    app.router.add_post("/media", upload)
    app.router.add_get("/media/{name}", serve)
