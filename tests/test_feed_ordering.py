"""On PostgreSQL, writers add and withdraw concurrently (each commit starts a publisher) while a
reader follows the cursor: the reader ends with exactly the committed entries, in order, with
no gap and no duplicate, and every page verifies."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from hashbank.feed import pages
from hashbank.feed.publish import publish_pending
from hashbank.feed.signing import keys_published
from hashbank.feedformat import FeedVerifier, entry_bytes
from hashbank.models import FeedEntry, FeedOutbox, Fingerprint
from hashbank.services import case_create, case_file_withdraw
from tests.feed_helpers import one_file

WRITERS = 4
ROUNDS = 12


@pytest.mark.django_db(transaction=True)
def test_reader_sees_exactly_the_committed_entries_in_order(postgres, settings, tmp_path):
    settings.JOBS_IN_PROCESS = True  # every commit runs a publisher in the writer's thread
    settings.FEED_SNAPSHOT_DIR = tmp_path
    keys = {k.kid: k.public_key for k in keys_published()}
    committed: list[tuple[str, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for _ in range(ROUNDS):
                receipt = case_create(files=[one_file(1), one_file(1)])
                added = list(Fingerprint.objects.filter(case=receipt.case).values_list("public_id", flat=True))
                with lock:
                    committed.extend((key, "add") for key in added)
                case_file = receipt.case.files.first()
                case_file_withdraw(case=receipt.case, file_id=case_file.public_id)
                withdrawn = list(case_file.fingerprints.values_list("public_id", flat=True))
                with lock:
                    committed.extend((key, "withdraw") for key in withdrawn)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    seen: list[dict] = []

    def reader() -> None:
        verifier = FeedVerifier(keys)
        try:
            while True:
                finished = done.is_set()
                page = pages.page_signed(cursor=verifier.position, limit=7)
                result = verifier.accept_page(page.body, page.kid, page.signature)
                seen.extend(result.entries)
                if finished and not result.more:
                    return
                if not result.entries:
                    time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    reading = threading.Thread(target=reader)
    reading.start()
    writing = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in writing:
        thread.start()
    for thread in writing:
        thread.join()
    publish_pending()  # anything a writer's publisher left for the next run
    done.set()
    reading.join(timeout=120)
    assert not errors, errors

    expected = WRITERS * ROUNDS * (4 + 2)
    assert len(committed) == expected and not FeedOutbox.objects.exists()
    positions = [e["position"] for e in seen]
    assert positions == list(range(1, expected + 1)), "gap, repeat or reorder"
    stored = list(FeedEntry.objects.order_by("position").values_list("line", flat=True))
    assert stored == [entry_bytes(e).decode() for e in seen]
    assert Counter((e["id"], e["op"]) for e in seen) == Counter(committed)
    # Per fingerprint, the addition always comes before its withdrawal.
    first_seen = {}
    for entry in seen:
        first_seen.setdefault(entry["id"], entry["op"])
    assert set(first_seen.values()) == {"add"}
