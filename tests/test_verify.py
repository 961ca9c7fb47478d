"""The pure-Python verifier refuses every tampering a partner could meet: a changed byte, a
dropped, repeated or reordered page, a replayed older checkpoint, an expired one, a fork."""

import ast
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hashbank import feedformat
from hashbank.feedformat import FeedVerifier, VerifyError
from hashbank.services import case_create, partner_create, partner_key_issue
from tests.conftest import ROOT
from tests.feed_helpers import auth, one_file, publish, trusted_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret():
    return partner_key_issue(partner=partner_create(name="Platform")).secret


@pytest.fixture
def feed(client, secret):
    """Three pages of two entries and the checkpoint, as served."""
    case_create(files=[one_file(2)])
    case_create(files=[one_file(2)])
    publish()

    def get(path, **params):
        response = client.get(path, params, **auth(secret))
        assert response.status_code == 200
        return response.content, response["Feed-Key-Id"], response["Feed-Signature"]

    pages = [get("/api/v1/feed", cursor=c, limit=2) for c in (0, 2, 4)]
    return {"keys": trusted_keys(client), "pages": pages, "checkpoint": get("/api/v1/checkpoint"), "get": get}


def test_verifier_imports_no_django():
    """Every module of the wire format imports only the standard library, `cryptography` and
    its own siblings: a platform installs it without the portal."""
    package = Path(feedformat.__file__).parent
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for path in package.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    siblings = {f"hashbank.feedformat.{path.stem}" for path in package.glob("*.py")}
    assert {name for name in imported if name.startswith("hashbank")} <= siblings
    assert {name.split(".")[0] for name in imported if not name.startswith("hashbank")} <= {
        "__future__", "base64", "binascii", "gzip", "hashlib", "json", "collections", "dataclasses", "datetime",
        "typing", "cryptography", "sys"}


def test_verifier_runs_without_django():
    """Imported in a fresh interpreter (no settings), the package and each of its modules load
    neither Django nor any other part of hashbank."""
    modules = sorted(f"hashbank.feedformat.{p.stem}" for p in Path(feedformat.__file__).parent.glob("*.py")
                     if p.stem not in ("__init__", "__main__"))
    code = (
        f"import sys, hashbank.feedformat, {', '.join(modules)};"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'django'"
        " or (m.startswith('hashbank.') and not m.startswith('hashbank.feedformat')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_old_module_path_is_the_same_verifier():
    """docs/platforms.md told platforms to import hashbank.fingerprints.verify and run it with
    `python -m`: both still work, and give the very same objects as hashbank.feedformat."""
    from hashbank.fingerprints import verify as old

    assert set(feedformat.__all__) <= set(old.__all__)
    for name in feedformat.__all__:
        assert getattr(old, name) is getattr(feedformat, name), name
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    for module in ("hashbank.fingerprints.verify", "hashbank.feedformat"):
        result = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 2 and "keys.json headers.txt body.json" in result.stdout, module


def test_the_honest_feed_verifies(feed):
    verifier = FeedVerifier(feed["keys"])
    verifier.accept_checkpoint(*feed["checkpoint"])
    entries = [e for page in feed["pages"] for e in verifier.accept_page(*page).entries]
    assert [e["position"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert verifier.digest == verifier.checkpoint.head_digest


def test_one_changed_byte_anywhere_is_refused(feed):
    body, kid, signature = feed["pages"][0]
    for index in (0, len(body) // 2, len(body) - 2):
        changed = bytearray(body)
        changed[index] ^= 0x01
        with pytest.raises(VerifyError, match="signature"):
            FeedVerifier(feed["keys"]).accept_page(bytes(changed), kid, signature)
    # A value rewritten to look plausible is still a changed byte.
    entry_value = json.loads(body)["entries"][0]["value"]
    forged = body.replace(entry_value.encode(), entry_value[::-1].encode())
    with pytest.raises(VerifyError, match="signature"):
        FeedVerifier(feed["keys"]).accept_page(forged, kid, signature)


def test_a_bad_signature_or_unknown_key_is_refused(feed):
    body, kid, signature = feed["pages"][0]
    with pytest.raises(VerifyError, match="signature"):
        FeedVerifier(feed["keys"]).accept_page(body, kid, signature[:-4] + "AAA=")
    with pytest.raises(VerifyError, match="unknown key"):
        FeedVerifier(feed["keys"]).accept_page(body, "ed25519:0000000000000000", signature)
    with pytest.raises(VerifyError, match="signature"):
        FeedVerifier(feed["keys"]).accept_page(body, kid, "not base64!")


def test_a_dropped_page_is_refused(feed):
    verifier = FeedVerifier(feed["keys"])
    verifier.accept_page(*feed["pages"][0])
    with pytest.raises(VerifyError, match="starts after 4, expected 2"):
        verifier.accept_page(*feed["pages"][2])


def test_a_reordered_or_repeated_page_is_refused(feed):
    with pytest.raises(VerifyError):
        FeedVerifier(feed["keys"]).accept_page(*feed["pages"][1])
    verifier = FeedVerifier(feed["keys"])
    verifier.accept_page(*feed["pages"][0])
    with pytest.raises(VerifyError):
        verifier.accept_page(*feed["pages"][0])


def test_a_page_that_does_not_continue_our_chain_is_refused(feed):
    # Same position, different history: a fork served to this partner only.
    verifier = FeedVerifier(feed["keys"], position=2, digest="1" * 64)
    with pytest.raises(VerifyError, match="does not continue the chain"):
        verifier.accept_page(*feed["pages"][1])


def test_a_page_signed_as_something_else_is_refused(feed):
    body, kid, signature = feed["checkpoint"]
    with pytest.raises(VerifyError, match=r"page layout|expected a imageshield\.feed\.page"):
        FeedVerifier(feed["keys"]).accept_page(body, kid, signature)


def test_an_older_checkpoint_is_refused(feed, client, secret):
    old = feed["checkpoint"]
    case_create(files=[one_file()])
    publish()
    new = feed["get"]("/api/v1/checkpoint")
    verifier = FeedVerifier(feed["keys"])
    verifier.accept_checkpoint(*new)
    with pytest.raises(VerifyError, match="older"):
        verifier.accept_checkpoint(*old)
    verifier.accept_checkpoint(*new)  # the same one again is fine


def test_an_expired_checkpoint_is_refused(feed):
    later = datetime.now(UTC) + timedelta(days=2)
    with pytest.raises(VerifyError, match="expired"):
        FeedVerifier(feed["keys"]).accept_checkpoint(*feed["checkpoint"], now=later)


def test_a_chain_that_misses_the_checkpoint_head_is_refused(feed):
    body, kid, signature = feed["checkpoint"]
    verifier = FeedVerifier(feed["keys"])
    verifier.accept_checkpoint(body, kid, signature)
    # Pretend we trusted a different checkpoint head: the honest pages cannot reach it.
    checkpoint = verifier.checkpoint
    verifier.checkpoint = feedformat.Checkpoint(**{**checkpoint.__dict__, "head_digest": "2" * 64})
    verifier.accept_page(*feed["pages"][0])
    verifier.accept_page(*feed["pages"][1])
    with pytest.raises(VerifyError, match="checkpoint's head digest"):
        verifier.accept_page(*feed["pages"][2])


def test_two_entries_on_one_line_are_refused(feed):
    # A signed page must keep one entry per line, or the chain would hash other bytes than
    # the entries applied. (Signed with the feed's own key, as a compromised server could.)
    from hashbank.feed.signing import sign

    body = feed["pages"][0][0]
    lines = body.split(b"\n")
    for squeezed in (
        b"\n".join([lines[0], lines[1] + lines[2], b"   ", lines[3]]),
        b"\n".join([lines[0], lines[1] + lines[2] + b",", b"   ", lines[3]]),
        b"\n".join([lines[0], b" ", lines[1] + lines[2], lines[3]]),
    ):
        kid, signature = sign(squeezed)
        with pytest.raises(VerifyError, match=r"comma|not JSON|not one entry|one entry per line"):
            FeedVerifier(feed["keys"]).accept_page(squeezed, kid, signature)


def signed_page(entries: list[dict]) -> tuple[bytes, str, str]:
    """A page of these entries from position 0, laid out and chained as the server does, and
    signed with the feed's own key (so only the entry shapes are under test)."""
    from hashbank.feed.signing import sign

    lines = [feedformat.entry_bytes(e) for e in entries]
    digest = feedformat.GENESIS
    for line in lines:
        digest = feedformat.chain_step(digest, line)
    body = (
        f'{{"cursor":0,"digest":"{digest}","format":{feedformat.FORMAT_VERSION},"kind":"{feedformat.PAGE_KIND}",'
        f'"more":false,"next_cursor":{len(lines)},"prev_digest":"{feedformat.GENESIS}","entries":[\n'
    ).encode() + b",\n".join(lines) + b"\n]}"
    return (body, *sign(body))


ADD = {"position": 1, "op": "add", "id": "f" * 20, "signal_type": "pdq", "value": "a" * 64, "quality": 90,
       "case": "c" * 32, "time": "2026-12-02T00:00:00Z"}


def test_a_tombstone_names_only_the_id(feed):
    tombstone = {"position": 2, "op": "withdraw", "id": "f" * 20, "time": "2026-12-02T00:00:00Z"}
    page = FeedVerifier(feed["keys"]).accept_page(*signed_page([ADD, tombstone]))
    assert page.entries[1] == tombstone
    # A withdrawal from before format 2 (it repeated the value) is still part of the chain.
    legacy = {**ADD, "position": 2, "op": "withdraw"}
    assert FeedVerifier(feed["keys"]).accept_page(*signed_page([ADD, legacy])).entries[1]["op"] == "withdraw"


@pytest.mark.parametrize("entry", [
    {"position": 1, "op": "add", "id": "f" * 20, "time": "2026-12-02T00:00:00Z"},  # an addition without its value
    {"position": 1, "op": "withdraw", "id": "f" * 20, "value": "a" * 64, "time": "2026-12-02T00:00:00Z"},
    {**ADD, "op": "replace"},
    {**ADD, "extra": 1},
    {k: v for k, v in ADD.items() if k != "quality"},
])
def test_an_entry_of_neither_shape_is_refused(feed, entry):
    with pytest.raises(VerifyError, match="not an addition or a withdrawal"):
        FeedVerifier(feed["keys"]).accept_page(*signed_page([entry]))


def test_the_server_writes_tombstones_without_the_value(client, secret):
    from hashbank.models import FeedEntry, FeedOutbox
    from hashbank.services import case_withdraw

    receipt = case_create(files=[one_file(2)])
    publish()
    values = set(receipt.case.fingerprints.values_list("value", flat=True))
    case_withdraw(case=receipt.case)
    # Nothing of the values waits in the outbox, and nothing reaches the feed.
    assert FeedOutbox.objects.filter(op="withdraw").exists()
    assert not FeedOutbox.objects.filter(op="withdraw").exclude(value="").exists()
    publish()
    tombstones = list(FeedEntry.objects.filter(op="withdraw").values_list("line", flat=True))
    assert len(tombstones) == len(values)
    assert all(json.loads(line).keys() == {"position", "op", "id", "time"} for line in tombstones)
    assert not any(value in line for line in tombstones for value in values)
