"""The content repository: uploads, and authenticated downloads with safe headers.

Downloads are served only through the authenticated /_matrix/client/v1/media endpoints, as the
spec now asks; the legacy unauthenticated /_matrix/media/v3/download and thumbnail endpoints
answer 404 M_NOT_FOUND so that no file is ever reachable without an access token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from qasid.api.asgi import FileResponse, Request, Response
from qasid.api.http import empty, json_response, query_int, requester, route, services
from qasid.core.errors import invalid_param, missing_param, not_found
from qasid.core.media import MediaFile
from qasid.core.suspension import refuse_if_suspended
from qasid.core.thumbnails import METHODS

LEGACY = ("/_matrix/media/v3", "/_matrix/media/r0")
AUTHENTICATED = "/_matrix/client/v1/media"


def _declared_length(request: Request) -> int | None:
    raw = request.header(b"content-length")
    return int(raw) if raw is not None and raw.isdigit() else None


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def _file_response(media: MediaFile) -> Response:
    return FileResponse(media.path, media_type=media.content_type, headers=media.headers)


@route("POST", *(prefix + "/upload" for prefix in LEGACY))
async def upload(request: Request) -> Response:
    """POST /_matrix/media/v3/upload

    - Streams the body to disk; 413 M_TOO_LARGE as soon as it passes the caller's upload limit (the
      server's, or their unit's max_upload_bytes; the message names it).
    - The bytes are durable (fsynced) before the mxc:// URI is returned.
    """
    who = await requester(request)
    refuse_if_suspended(who, "upload files")
    content_uri = await services(request).media.upload(
        who.user_id, _chunks(request), request.header(b"content-type"),
        request.query_params.get("filename"), _declared_length(request))
    return json_response({"content_uri": content_uri})


@route("POST", "/_matrix/media/v1/create")
async def create(request: Request) -> Response:
    """POST /_matrix/media/v1/create

    - Reserves an mxc:// URI for a later PUT upload, unused after 24 hours (`unused_expires_at`).
    - At most 10 pending reservations per user: 429 M_LIMIT_EXCEEDED beyond.
    """
    who = await requester(request)
    refuse_if_suspended(who, "upload files")
    return json_response(await services(request).media.create(who.user_id))


@route("PUT", *(prefix + "/upload/{serverName}/{mediaId}" for prefix in LEGACY))
async def upload_to(request: Request) -> Response:
    """PUT /_matrix/media/v3/upload/{serverName}/{mediaId}

    - Uploads the content of an ID reserved with /create; only by the user who reserved it (403).
    - 409 M_CANNOT_OVERWRITE_MEDIA once it has content; 404 M_NOT_FOUND if unknown or expired.
    """
    who = await requester(request)
    refuse_if_suspended(who, "upload files")
    params = request.path_params
    await services(request).media.upload_to(
        who.user_id, params["serverName"], params["mediaId"], _chunks(request),
        request.header(b"content-type"), request.query_params.get("filename"), _declared_length(request))
    return empty()


@route("GET", AUTHENTICATED + "/config", *(prefix + "/config" for prefix in LEGACY))
async def media_config(request: Request) -> Response:
    """GET /_matrix/client/v1/media/config

    - {"m.upload.size": the caller's upload limit in bytes: the server's, or their unit's
      max_upload_bytes where that is smaller}.
    """
    who = await requester(request)
    return json_response(await services(request).media.config(who.user_id))


@route("GET", AUTHENTICATED + "/download/{serverName}/{mediaId}",
       AUTHENTICATED + "/download/{serverName}/{mediaId}/{fileName}")
async def download(request: Request) -> Response:
    """GET /_matrix/client/v1/media/download/{serverName}/{mediaId}

    - Authenticated. The file with Content-Disposition (inline only for types that cannot run
      script, attachment otherwise; {fileName} overrides the stored name), a sandboxing
      Content-Security-Policy, X-Content-Type-Options: nosniff and CORP cross-origin.
    - Media IDs outside [A-Za-z0-9_-]: 400 M_INVALID_PARAM; remote servers' media: 404 M_NOT_FOUND.
    - Reserved but not yet uploaded: 504 M_NOT_YET_UPLOADED.
    """
    await requester(request)
    params = request.path_params
    media = await services(request).media.download(params["serverName"], params["mediaId"], params.get("fileName"))
    return _file_response(media)


@route("GET", AUTHENTICATED + "/thumbnail/{serverName}/{mediaId}")
async def thumbnail(request: Request) -> Response:
    """GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}

    - width and height (required, 1 or more) ask for at least that size: the smallest of the spec's
      pre-set sizes (32x32 and 96x96 crop, 320x240, 640x480 and 800x600 scale) covering it, or the
      image at its own size beyond those; never enlarged. Generated once, then served from disk.
    - method is crop or scale (default scale); animated=true serves an animated GIF, WebP or PNG as
      it is; otherwise the thumbnail is a still image (the first frame).
    - Content not uploaded as PNG, JPEG, GIF or WebP (an encrypted attachment, say) is never decoded:
      400 M_UNKNOWN; an image over 40 megapixels: 413 M_TOO_LARGE.
    """
    await requester(request)
    width, height = _dimension(request, "width"), _dimension(request, "height")
    method = request.query_params.get("method") or "scale"
    if method not in METHODS:
        raise invalid_param("method must be crop or scale")
    animated = request.query_params.get("animated")
    if animated not in (None, "true", "false"):
        raise invalid_param("animated must be true or false")
    params = request.path_params
    media = await services(request).media.thumbnail(
        params["serverName"], params["mediaId"], width, height, method, animated == "true")
    return _file_response(media)


def _dimension(request: Request, name: str) -> int:
    value = query_int(request, name, None, lo=-1, hi=1 << 20)
    if value is None:
        raise missing_param(f"Query parameter {name} is required")
    if value < 1:
        raise invalid_param(f"{name} must be a positive integer")
    return value


@route("GET", *(prefix + suffix for prefix in LEGACY for suffix in (
    "/download/{serverName}/{mediaId}", "/download/{serverName}/{mediaId}/{fileName}",
    "/thumbnail/{serverName}/{mediaId}",
)))
async def legacy_download(request: Request) -> Response:
    """GET /_matrix/media/v3/download/{serverName}/{mediaId}

    - Always 404 M_NOT_FOUND: media is served only through the authenticated
      /_matrix/client/v1/media endpoints (the spec's authenticated media), never without a token.
    """
    raise not_found("Use the authenticated /_matrix/client/v1/media endpoints")
