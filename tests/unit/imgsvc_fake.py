"""A fake image service behind ``httpx.MockTransport``, for the imgsvc client and CLI unit tests.

It answers the routes the README documents, with the shapes and the error envelope the real
API uses, and plays the storage's part too: the presigned POST (parsed as S3 would, the policy
fields first and the file last) and the presigned GET. What it received is recorded, so
tests can assert what the client sent: parameters, bodies, headers.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

API = "https://api.test/dev/"
STORAGE = "https://storage.test/bucket"
TOKEN = "token-of-alice"
# What a presigned POST's policy fields look like, tagging's XML included.
POST_FIELDS = {
    "key": "originals/{id}",
    "Content-Type": "{content_type}",
    "tagging": (
        "<Tagging><TagSet><Tag><Key>upload-state</Key><Value>unverified</Value></Tag></TagSet></Tagging>"
    ),
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTEtMzBUMDA6MDA6MDBaIn0=",
}


def error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}})


@dataclass
class Upload:
    """What the storage received for one presigned POST."""

    fields: list[tuple[str, str]]
    file_name: str
    data: bytes
    headers: httpx.Headers


@dataclass
class FakeService:
    """The API and the storage, in memory; ``handler`` is the MockTransport's."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    # How many GETs of a fresh upload answer `pending` before processing is done.
    pending_polls: int = 1
    # What processing decides for uploaded bytes: None (available) or a rejection reason.
    verdict: Callable[[bytes], str | None] = lambda data: None
    # Requests answered with this response instead (by "METHOD path" prefix), e.g. to fail.
    overrides: dict[str, Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)
    page_size: int = 2
    # The one bearer token the fake API accepts.
    token: str = TOKEN
    _polls: dict[str, int] = field(default_factory=dict)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def api_requests(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and str(r.url).startswith(API + path)]

    def add_image(self, **values: Any) -> dict[str, Any]:
        image_id = values.pop("image_id", uuid.uuid4().hex)
        image = {
            "image_id": image_id,
            "user_id": "alice",
            "tags": [],
            "description": None,
            "content_type": "image/jpeg",
            "status": "available",
            "created_at": f"2026-11-30T05:{len(self.images):02d}:00+00:00",
            "visibility": "private",
            "size": 1234,
            "width": 64,
            "height": 48,
            "format": "JPEG",
            "sha256": "0" * 64,
            "frames": 1,
            "exif_orientation": 1,
            "duplicate_of": None,
            "reason": None,
            **values,
        }
        self.images[image_id] = image
        self.uploads.setdefault(image_id, Upload([], "", b"\xff\xd8\xff original bytes", httpx.Headers()))
        return image

    # --- the transport ----------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        for prefix, answer in self.overrides.items():
            method, _, path = prefix.partition(" ")
            if request.method == method and url.split("?")[0].startswith(path):
                return answer(request)
        if url.startswith(STORAGE):
            return self._storage(request)
        if not url.startswith(API):
            return httpx.Response(404)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return error(401, "unauthorized", "a valid bearer token is required")
        path = url[len(API) :].split("?")[0]
        parts = path.split("/")
        match request.method, parts:
            case "POST", ["images", "upload"]:
                return self._request_upload(request)
            case "GET", ["images"]:
                return self._list(request)
            case "GET", ["images", image_id]:
                return self._get(image_id)
            case "PATCH", ["images", image_id]:
                return self._patch(image_id, request)
            case "DELETE", ["images", image_id]:
                if self.images.pop(image_id, None) is None:
                    return error(404, "not_found", f"no image {image_id}")
                return httpx.Response(204)
            case "GET", ["images", image_id, "download"]:
                return self._download_url(image_id, request)
        return error(404, "not_found", "no such route")

    def _request_upload(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        image_id = uuid.uuid4().hex
        self.images[image_id] = {
            "image_id": image_id,
            "user_id": "alice",
            "tags": [tag.lower() for tag in body.get("tags") or []],
            "description": body.get("description"),
            "content_type": body["content_type"],
            "status": "pending",
            "created_at": "2026-11-30T06:00:00+00:00",
            "visibility": body.get("visibility", "private"),
            "reason": None,
        }
        fields = {
            name: value.format(id=image_id, content_type=body["content_type"])
            for name, value in POST_FIELDS.items()
        }
        return httpx.Response(
            201,
            json={
                "image_id": image_id,
                "upload": {"url": f"{STORAGE}/post", "fields": fields},
                "expires_in": 900,
            },
        )

    def _storage(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.read()
            )
            fields: list[tuple[str, str]] = []
            file_name, data = "", b""
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                assert isinstance(name, str)
                assert isinstance(payload, bytes)
                if name == "file":
                    file_name, data = str(part.get_filename()), payload
                else:
                    fields.append((name, payload.decode()))
            image_id = dict(fields)["key"].removeprefix("originals/")
            self.uploads[image_id] = Upload(fields, file_name, data, request.headers)
            return httpx.Response(204)
        image_id = str(request.url).rsplit("/", 1)[-1].split("?")[0]
        variant = request.url.params.get("variant", "original")
        data = (
            self.uploads[image_id].data if variant == "original" else b"RIFF\0\0\0\0WEBP" + variant.encode()
        )
        return httpx.Response(200, content=data, headers={"Content-Length": str(len(data))})

    def _get(self, image_id: str) -> httpx.Response:
        image = self.images.get(image_id)
        if image is None:
            return error(404, "not_found", f"no image {image_id}")
        if image["status"] == "pending" and image_id in self.uploads:
            self._polls[image_id] = self._polls.get(image_id, 0) + 1
            if self._polls[image_id] > self.pending_polls:
                data = self.uploads[image_id].data
                reason = self.verdict(data)
                if reason is None:
                    image.update(
                        status="available", size=len(data), width=2, height=2, format="PNG", frames=1
                    )
                else:
                    image.update(status="rejected", reason=reason)
        return httpx.Response(200, json=image)

    def _list(self, request: httpx.Request) -> httpx.Response:
        query = {name: values[-1] for name, values in parse_qs(request.url.query.decode()).items()}
        found = [
            image
            for image in sorted(self.images.values(), key=lambda image: image["created_at"], reverse=True)
            if image["status"] == "available"
            and ("tag" not in query or query["tag"] in image["tags"])
            and (query.get("visibility") != "public" or image["visibility"] == "public")
        ]
        limit = int(query.get("limit", self.page_size))
        start = int(query.get("cursor", "0"))
        page = found[start : start + limit]
        more = start + limit < len(found)
        return httpx.Response(200, json={"items": page, "next_cursor": str(start + limit) if more else None})

    def _patch(self, image_id: str, request: httpx.Request) -> httpx.Response:
        image = self.images.get(image_id)
        if image is None:
            return error(404, "not_found", f"no image {image_id}")
        if image["user_id"] != "alice":
            return error(403, "forbidden", "only the owner may edit an image")
        body = json.loads(request.content)
        image.update({name: body[name] for name in ("tags", "description", "visibility") if name in body})
        return httpx.Response(200, json=image)

    def _download_url(self, image_id: str, request: httpx.Request) -> httpx.Response:
        image = self.images.get(image_id)
        if image is None:
            return error(404, "not_found", f"no image {image_id}")
        if image["status"] != "available":
            return error(409, "conflict", f"image {image_id} is not available")
        variant = request.url.params.get("variant", "original")
        return httpx.Response(
            200, json={"url": f"{STORAGE}/get/{image_id}?variant={variant}", "expires_in": 300}
        )
