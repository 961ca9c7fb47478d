"""The push job (hashbank.feed.push.push_run, hashbank.jobs.feed_push) and its bookkeeping:
it pushes exactly what GET /api/v1/checkpoint answers, once per version; pushed_version never
moves back; failures back off, pause after enough in a row, and say so; the sweep queues due
retries; and publishing is never held up or failed by an endpoint, checked with a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from hashbank.feed.push import Delivery, push_endpoint_status, push_record, push_run, push_sweep, retry_delay
from hashbank.models import CaseEvent, FeedEntry, FeedHead, FeedOutbox, PushEndpoint
from hashbank.queueing import coalesce_key, redis_connection
from hashbank.services import case_create, partner_create, partner_key_issue, push_endpoint_set
from tests.feed_helpers import auth, one_file, publish, run_worker
from tests.push_helpers import Endpoint, closed_port, make_certificate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cert(tmp_path):
    return make_certificate(tmp_path / "tls")


@pytest.fixture(autouse=True)
def _push_settings(settings, cert, tmp_path):
    settings.JOBS_IN_PROCESS = True
    settings.FEED_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.PUSH_ALLOW_ADDRESSES = ["127.0.0.0/8"]
    settings.PUSH_CA_FILE = str(cert[0])
    settings.PUSH_TIMEOUT_SECONDS = 2.0
    settings.PUSH_RETRY_BASE_SECONDS = 60
    settings.PUSH_RETRY_MAX_SECONDS = 3600
    settings.PUSH_PAUSE_AFTER_FAILURES = 3


@pytest.fixture
def endpoint(cert):
    server = Endpoint(*cert)
    yield server
    server.close()


def registered(url: str, name: str = "Example Video") -> PushEndpoint:
    return push_endpoint_set(partner=partner_create(name=name), url=url)


def test_the_push_is_the_checkpoint_as_the_api_serves_it(endpoint, client):
    partner_endpoint = registered(endpoint.url())
    secret = partner_key_issue(partner=partner_endpoint.partner).secret
    case_create(files=[one_file(2)])
    publish()
    assert push_run() == {"pushed": 1, "failed": 0, "waiting": 0}
    served = client.get("/api/v1/checkpoint", **auth(secret))
    [pushed] = endpoint.received
    assert pushed.body == served.content
    assert pushed.headers["feed-key-id"] == served["Feed-Key-Id"]
    assert pushed.headers["feed-signature"] == served["Feed-Signature"]
    assert pushed.headers["content-type"] == served["Content-Type"] == "application/json"


def test_each_version_is_pushed_once_and_pushed_version_only_moves_forward(endpoint):
    partner_endpoint = registered(endpoint.url())
    case_create(files=[one_file()])
    publish()
    push_run()
    push_run()  # run twice: nothing new to push
    assert len(endpoint.received) == 1
    version = FeedHead.objects.get().checkpoint_version
    partner_endpoint.refresh_from_db()
    assert (partner_endpoint.pushed_version, partner_endpoint.failures) == (version, 0)
    assert partner_endpoint.last_success_at is not None

    case_create(files=[one_file()])
    publish()
    push_run()
    assert len(endpoint.received) == 2
    newer = FeedHead.objects.get().checkpoint_version
    assert newer > version
    # A slower run that pushed the older version records nothing over the newer one.
    assert push_record(endpoint=partner_endpoint, version=version, result=Delivery(True)) is False
    assert push_record(endpoint=partner_endpoint, version=version, result=Delivery(False, "late")) is False
    partner_endpoint.refresh_from_db()
    assert (partner_endpoint.pushed_version, partner_endpoint.failures) == (newer, 0)

    # An endpoint already past the head (recorded by a run that saw a newer head) is left alone.
    PushEndpoint.objects.filter(pk=partner_endpoint.pk).update(pushed_version=newer + 5)
    push_run()
    assert len(endpoint.received) == 2
    assert PushEndpoint.objects.get(pk=partner_endpoint.pk).pushed_version == newer + 5


def test_a_suspended_partner_is_not_pushed_to(endpoint):
    partner_endpoint = registered(endpoint.url())
    partner_endpoint.partner.is_active = False
    partner_endpoint.partner.save()
    case_create(files=[one_file()])
    publish()
    assert push_run() == {"pushed": 0, "failed": 0, "waiting": 0}
    assert endpoint.connections == 0


def test_an_outcome_for_a_url_since_changed_is_not_recorded(endpoint):
    partner_endpoint = registered(endpoint.url())
    case_create(files=[one_file()])
    publish()
    changed = push_endpoint_set(partner=partner_endpoint.partner, url=endpoint.url("/new"))
    version = FeedHead.objects.get().checkpoint_version
    assert push_record(endpoint=partner_endpoint, version=version, result=Delivery(True)) is False
    changed.refresh_from_db()
    assert changed.pushed_version == 0 and changed.last_success_at is None


def test_failures_back_off_pause_and_say_so(endpoint):
    dead = registered(f"https://127.0.0.1:{closed_port()}/push", name="Dead Endpoint")
    alive = registered(endpoint.url(), name="Live Endpoint")
    case_create(files=[one_file()])
    publish()
    start = timezone.now()
    assert push_run(now=start) == {"pushed": 1, "failed": 1, "waiting": 0}
    dead.refresh_from_db()
    assert dead.failures == 1 and dead.last_error.startswith("could not connect")
    status = push_endpoint_status(dead)
    assert status["state"] == "retrying" and status["next_attempt_at"] is not None
    assert alive.partner.push_endpoint.failures == 0  # one dead endpoint never holds up another

    # Within the backoff: not tried (nothing new was published, but a retry would push anyway).
    assert push_run(now=start + timedelta(seconds=59)) == {"pushed": 0, "failed": 0, "waiting": 1}
    assert PushEndpoint.objects.get(pk=dead.pk).failures == 1
    # Due: tried again; the next wait doubles.
    assert push_run(now=start + timedelta(seconds=61))["failed"] == 1
    assert push_run(now=start + timedelta(seconds=61 + 119))["waiting"] == 1
    assert push_run(now=start + timedelta(seconds=61 + 121))["failed"] == 1
    dead.refresh_from_db()
    assert dead.failures == 3  # PUSH_PAUSE_AFTER_FAILURES
    status = push_endpoint_status(dead)
    assert status["state"] == "paused" and "Paused after 3 failed pushes in a row" in status["message"]
    assert status["next_attempt_at"] is None
    # Paused: never tried again, however long it waits, until the partner registers it again.
    assert push_run(now=start + timedelta(days=2)) == {"pushed": 0, "failed": 0, "waiting": 0}
    resumed = push_endpoint_set(partner=dead.partner, url=dead.url)
    assert push_endpoint_status(resumed)["state"] == "active" and resumed.failures == 0


def test_the_backoff_doubles_up_to_its_cap(settings):
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 50)] == [
        60, 120, 240, 480, 3600, 3600, 3600]


def test_the_sweep_queues_due_retries_and_missed_pushes(endpoint, settings, monkeypatch):
    queued = []
    monkeypatch.setattr("hashbank.feed.push.enqueue_now", lambda job, **kw: queued.append((job, kw)) or True)
    assert push_sweep() == {"due": 0}  # no feed yet
    case_create(files=[one_file()])
    publish()
    partner_endpoint = registered(endpoint.url())  # registered after the publish: never pushed
    assert push_sweep(dry_run=True) == {"due": 1} and queued == []
    assert push_sweep() == {"due": 1, "queued": True}
    assert queued == [("hashbank.jobs.feed_push", {"coalesce": True})]
    push_run()
    assert push_sweep()["due"] == 0  # up to date

    PushEndpoint.objects.filter(pk=partner_endpoint.pk).update(
        url=f"https://127.0.0.1:{closed_port()}/push")
    case_create(files=[one_file()])
    publish()
    assert push_sweep()["due"] == 1  # entries published since its last success
    now = timezone.now()
    push_run(now=now)
    assert push_sweep(now=now + timedelta(seconds=30))["due"] == 0  # waiting out its backoff
    assert push_sweep(now=now + timedelta(seconds=61))["due"] == 1


def test_embedded_mode_never_pushes_inside_the_request(endpoint):
    """Jobs run in the web request there: the survivor's request must not wait on a partner."""
    registered(endpoint.url())
    with transaction.atomic():
        case_create(files=[one_file()])  # publishes on commit, in this process
    assert FeedEntry.objects.exists()
    assert endpoint.connections == 0


def test_publishing_is_unaffected_by_a_dead_or_silent_endpoint(postgres, redis_url, settings, cert, tmp_path):
    import django_rq

    settings.JOBS_IN_PROCESS = False
    queue = django_rq.get_queue("default")
    queue.empty()
    silent = Endpoint(*cert, mode="silent")
    try:
        registered(f"https://127.0.0.1:{closed_port()}/push", name="Gone Partner")
        registered(silent.url(), name="Silent Partner")
        # The registrations' first pushes (and their "one is waiting" flag): not this test's subject.
        queue.empty()
        redis_connection().delete(coalesce_key("hashbank.jobs.feed_push"))
        with transaction.atomic():
            receipt = case_create(files=[one_file(2)])
        result = run_worker(redis_url, PUSH_ALLOW_ADDRESSES="127.0.0.0/8", PUSH_CA_FILE=str(cert[0]),
                            PUSH_TIMEOUT_SECONDS="1", FEED_SNAPSHOT_DIR=str(tmp_path / "snapshots"))
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        silent.close()
    assert not FeedOutbox.objects.exists()
    assert FeedEntry.objects.count() == 3
    assert CaseEvent.objects.filter(case=receipt.case, kind=CaseEvent.Kind.SHARED_WITH_PARTNERS).exists()
    errors = dict(PushEndpoint.objects.values_list("partner__name", "last_error"))
    assert errors["Gone Partner"].startswith("could not connect"), errors
    assert errors["Silent Partner"] == "timed out: could not get an answer within 1 s", errors
    assert len(silent.received) == 1
    assert queue.failed_job_registry.count == 0  # neither job failed: a failed push is an outcome
