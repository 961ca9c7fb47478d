"""The small forum's example in docs/platforms.md (docs/examples/forum_lookup.py), run as a forum
would run it, against a live server: it hashes the upload on its own side, makes one call, and
says whether the upload matched; the docs show exactly that file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hashbank.lookup.services import partner_lookup_key_issue
from hashbank.models import Fingerprint
from hashbank.platform.lookup import parse_lookup
from hashbank.platform.matcher import hash_image
from hashbank.services import case_create, partner_create
from tests.conftest import ROOT
from tests.test_platform_exchange import PHOTOS

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = ROOT / "docs" / "examples" / "forum_lookup.py"


@pytest.fixture(autouse=True)
def _embedded(settings, tmp_path):
    settings.JOBS_IN_PROCESS = True  # the embedded lookup: this is about the example, not the process
    settings.LOOKUP_URL = ""
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run([sys.executable, str(EXAMPLE), *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=120)


def test_the_example_finds_a_listed_photo_turned_round_and_nothing_for_another(live_server, tmp_path):
    from PIL import Image

    image = hash_image(PHOTOS / "astronaut.png")
    receipt = case_create(files=[[{"signal_type": "pdq", "value": image.hashes[0], "quality": image.quality}]])
    listed = Fingerprint.objects.get(case=receipt.case).public_id
    turned = tmp_path / "upload.png"
    Image.open(PHOTOS / "astronaut.png").rotate(90, expand=True).save(turned)
    secret = partner_lookup_key_issue(partner=partner_create(name="Small Forum")).secret
    env = {"IMAGESHIELD_LOOKUP_KEY": secret, "IMAGESHIELD_LOOKUP_URL": f"{live_server.url}/api/v1/lookup"}

    found = run(str(turned), **env)
    assert found.returncode == 1, found.stdout + found.stderr
    assert found.stdout.startswith(f"match {listed} pdq distance ") and "origin survivor" in found.stdout
    assert found.stdout.count("\n") == 1  # one fingerprint, though several variants matched it
    other = run(str(PHOTOS / "coffee.png"), **env)
    assert (other.returncode, other.stdout) == (0, "")
    refused = run(str(turned), **{**env, "IMAGESHIELD_LOOKUP_KEY": "isk_AAAAAAAA_" + "A" * 32})
    assert refused.returncode == 2 and "try again later" in refused.stderr


def test_its_request_is_what_the_api_accepts_and_the_docs_show_the_file():
    body = run("--hashes-only", str(PHOTOS / "camera.png"))
    assert body.returncode == 0, body.stderr
    asked = parse_lookup(json.loads(body.stdout))
    assert [q.signal_type for q in asked.queries] == ["pdq"] * 8 + ["md5", "sha256"]
    assert asked.queries[0].value == hash_image(PHOTOS / "camera.png").hashes[0]  # as the project hashes it
    docs = (ROOT / "docs" / "platforms.md").read_text()
    assert EXAMPLE.read_text().strip() in docs
    assert (ROOT / "docs" / "examples" / "forum_lookup.php").read_text().strip() in docs
