"""Shared builders for the survivor tests: real services, real fingerprint examples."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from hashbank import services
from hashbank.fingerprints import get_signal_type

PDQ_QUALITY = 90


def photo_fingerprints(n: int = 0) -> list[dict[str, Any]]:
    """One photo's fingerprints, built from the library's own examples (n picks which)."""
    def example(name: str) -> str:
        examples = get_signal_type(name).get_examples()
        return examples[n % len(examples)]

    return [
        {"signal_type": "pdq", "value": example("pdq"), "quality": PDQ_QUALITY},
        {"signal_type": "phash", "value": example("phash")},
        {"signal_type": "dhash", "value": example("dhash")},
        {"signal_type": "md5", "value": example("md5")},
        {"signal_type": "sha256", "value": example("sha256")},
    ]


def submission(files: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return {"count": len(files), "files": [{"fingerprints": f} for f in files]}


def consented_client(client: Client | None = None) -> Client:
    client = client or Client()
    response = client.post("/start/", {"age": "adult", "pictured": "on", "consent": "on"})
    assert response.status_code == 302, response.content
    return client


def post_json(client: Client, url: str, body: object, **extra: Any):
    return client.post(url, data=json.dumps(body), content_type="application/json", **extra)


def make_case(files: int = 2):
    return services.case_create(files=[photo_fingerprints(i) for i in range(files)])


def open_case(client: Client, receipt) -> None:
    response = client.post("/case/", {"reference": receipt.reference, "pin": receipt.pin})
    assert response.status_code == 302 and response["Location"] == "/case/status/", response.content
