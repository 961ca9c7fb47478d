"""The server has no endpoint that accepts media. Every URL pattern of the site is walked and
sent a photo as multipart, as raw image bytes and as an octet stream: each is refused with
415 before any view runs, so no view (ours, the admin's, a future one) can receive a file."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from hashbank.models import Case

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8


def all_paths() -> list[str]:
    """A concrete path for every URL pattern, with placeholder values for its parameters."""
    paths: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + route)
            elif isinstance(entry, URLPattern):
                paths.append(prefix + route)

    walk(get_resolver().url_patterns, "")
    concrete = []
    for raw in paths:
        path = re.sub(r"<(?:int:)?[^>]*(?:id|pk)[^>]*>", "1", raw)
        path = re.sub(r"<[^>]+>", "x", path)
        # Regex routes (the admin's): strip anchors and groups to a plausible literal path.
        path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "x", path).replace("^", "").replace("$", "").replace("\\", "")
        concrete.append("/" + path.lstrip("/"))
    return sorted(set(concrete))


PATHS = all_paths()


def test_the_walk_covers_the_survivor_pages_and_the_admin():
    assert {"/api/survivor/cases", "/api/survivor/case/files", "/case/", "/start/", "/i18n/setlang/"} <= set(PATHS)
    assert any(p.startswith("/admin/") for p in PATHS)
    assert len(PATHS) > 20


@pytest.mark.django_db
@pytest.mark.parametrize("path", PATHS)
def test_no_endpoint_accepts_a_file(path):
    client = Client()
    client.post("/start/", {"age": "adult", "pictured": "on", "consent": "on"})
    upload = SimpleUploadedFile("IMG_2041.jpg", JPEG, content_type="image/jpeg")
    for method in ("post", "put", "patch"):
        response = getattr(client, method)(path, {"file": upload, "note": "x"}) if method == "post" else \
            getattr(client, method)(path, JPEG, content_type="multipart/form-data; boundary=x")
        assert response.status_code == 415, (method, path, response.status_code)
        upload.seek(0)
    # An image posted as "multipart" with a made-up boundary parses into nothing: refused too.
    response = client.post(path, JPEG, content_type="multipart/form-data; boundary=x")
    assert response.status_code == 415, ("bare multipart", path, response.status_code)
    for content_type in ("image/jpeg", "video/mp4", "application/octet-stream", "text/plain"):
        response = client.post(path, JPEG, content_type=content_type)
        assert response.status_code == 415, (content_type, path, response.status_code)
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_plain_forms_and_json_still_work():
    client = Client()
    assert client.post("/start/", {"age": "adult", "pictured": "on", "consent": "on"}).status_code == 302
    form = client.post("/start/", "age=adult&pictured=on&consent=on", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 302
    response = client.post("/api/survivor/cases", "{}", content_type="application/json")
    assert response.status_code == 400
