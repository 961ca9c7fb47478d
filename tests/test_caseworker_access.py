"""One accessor guards every case lookup, and every refusal is "not found": tested condition
by condition, then through every case URL, across organisations, and in the admin."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse
from django_otp.middleware import OTPMiddleware

from hashbank import services as bank
from portal.caseworkers.access import caseworker_case_get
from portal.caseworkers.models import AuditAction, AuditEvent, Role
from tests.test_caseworker_support import assisted_case, member, organisation, staff_user, verified

pytestmark = pytest.mark.django_db


def as_seen_by(user, *, verified_session: bool = True):
    """The user exactly as a request sees it after OTPMiddleware (is_verified bound)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    request = RequestFactory().get("/")
    request.session = {}
    if verified_session and not user.is_anonymous:
        request.session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    request.user = user
    OTPMiddleware(lambda r: None)(request)
    return request.user


@pytest.fixture
def world():
    north, south = organisation("North Helpline"), organisation("South Helpline")
    alice = member(north, "alice")
    lena = member(north, "lena", Role.LEAD)
    bob = member(south, "bob")
    receipt = assisted_case(alice)
    return {"north": north, "south": south, "alice": alice, "lena": lena, "bob": bob, "case": receipt.assisted_case}


# --- The accessor, one condition at a time ------------------------------------------------


def test_member_of_the_organisation_gets_the_case(world):
    found = caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=world["case"].public_id)
    assert found.pk == world["case"].pk


def test_another_caseworker_of_the_same_organisation_gets_it_too(world):
    other = member(world["north"], "carl")
    assert caseworker_case_get(user=as_seen_by(other.user), case_id=str(world["case"].public_id)).pk == world["case"].pk


def test_not_signed_in(world):
    with pytest.raises(Http404):
        caseworker_case_get(user=AnonymousUser(), case_id=world["case"].public_id)


def test_signed_in_but_not_verified_by_the_second_factor(world):
    with pytest.raises(Http404):
        caseworker_case_get(
            user=as_seen_by(world["alice"].user, verified_session=False), case_id=world["case"].public_id
        )


def test_inactive_user(world):
    user = world["alice"].user
    user.is_active = False
    user.save()
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(user), case_id=world["case"].public_id)


def test_no_membership(world, django_user_model):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    loner = django_user_model.objects.create_user(username="loner", password="x" * 20)
    TOTPDevice.objects.create(user=loner, name="app", confirmed=True)
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(loner), case_id=world["case"].public_id)


def test_service_staff_without_membership_get_no_case(world):
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(staff_user()), case_id=world["case"].public_id)


def test_inactive_organisation(world):
    world["north"].is_active = False
    world["north"].save()
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=world["case"].public_id)


def test_other_organisation_is_refused_logged_and_audited(world, caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["bob"].user), case_id=world["case"].public_id)
    assert "another organisation" in caplog.text
    assert str(world["case"].public_id) not in caplog.text
    refused = AuditEvent.objects.get(action=AuditAction.ACCESS_REFUSED)
    # Kept in the asker's own organisation's trail, naming no case of the other one.
    assert refused.organisation == world["south"] and refused.case_public_id is None


def test_missing_case(world):
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=uuid.uuid4())


@pytest.mark.parametrize("guess", ["1", "", "../1", "K7QM-2XHP-9DRT-WF4A", None, 12])
def test_malformed_or_guessed_ids(world, guess):
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=guess)


def test_withdrawn_case(world):
    bank.case_withdraw(case=world["case"].case)
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=world["case"].public_id)


def test_deleted_case(world):
    bank.case_delete(case=world["case"].case)
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=world["case"].public_id)


def test_lead_only_lookups_refuse_caseworkers_and_admit_leads(world):
    with pytest.raises(Http404):
        caseworker_case_get(user=as_seen_by(world["alice"].user), case_id=world["case"].public_id, lead_only=True)
    found = caseworker_case_get(user=as_seen_by(world["lena"].user), case_id=world["case"].public_id, lead_only=True)
    assert found.pk == world["case"].pk


# --- Through HTTP ---------------------------------------------------------------------------


def case_urls(case_id) -> list[tuple[str, str]]:
    return [
        ("get", reverse("caseworkers:case", args=[case_id])),
        ("post", reverse("caseworkers:note_add", args=[case_id])),
        ("get", reverse("caseworkers:note_edit", args=[case_id, 1])),
        ("post", reverse("caseworkers:handover", args=[case_id])),
        ("get", reverse("caseworkers:audit") + f"?case={case_id}"),
    ]


def request(client, method: str, url: str):
    if method == "post":
        return client.post(url, {"text": "x", "to": "1"})
    return client.get(url)


def test_every_case_url_answers_not_found_to_another_organisation(client, world):
    south_lead = member(world["south"], "sara", Role.LEAD)
    for user in (world["bob"].user, south_lead.user):
        verified(client, user)
        for method, url in case_urls(world["case"].public_id):
            assert request(client, method, url).status_code == 404, url
    # ...and the same URLs work for the case's own organisation (so the 404s above mean something).
    verified(client, world["lena"].user)
    assert client.get(reverse("caseworkers:case", args=[world["case"].public_id])).status_code == 200
    assert client.get(reverse("caseworkers:audit") + f"?case={world['case'].public_id}").status_code == 200


def test_missing_and_forbidden_cases_look_the_same(client, world):
    verified(client, world["bob"].user)
    forbidden = client.get(reverse("caseworkers:case", args=[world["case"].public_id]))
    missing = client.get(reverse("caseworkers:case", args=[uuid.uuid4()]))
    assert forbidden.status_code == missing.status_code == 404

    def page(response, asked: object) -> bytes:
        # The site's 404 page carries a fresh CSRF token and the asked path (the language
        # switch returns to it): both depend on the request, not on the case.
        content = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"TOKEN", response.content)
        return content.replace(str(asked).encode(), b"ID")

    assert page(forbidden, world["case"].public_id) == page(missing, missing.wsgi_request.path.split("/")[-2])


def test_the_bank_case_id_or_the_reference_in_the_url_find_nothing(client, world):
    verified(client, world["alice"].user)
    assert client.get(f"/caseworkers/cases/{world['case'].case_id}/").status_code == 404
    assert client.get("/caseworkers/cases/K7QM-2XHP-9DRT-WF4A/").status_code == 404


def test_the_list_shows_only_the_organisations_own_cases(client, world):
    south_case = assisted_case(world["bob"]).assisted_case
    verified(client, world["alice"].user)
    html = client.get(reverse("caseworkers:cases")).content.decode()
    assert str(world["case"].public_id) in html and str(south_case.public_id) not in html


def test_unverified_sessions_are_sent_to_sign_in_for_every_staff_page(client, world):
    client.force_login(world["lena"].user)  # password only: no second factor in this session
    for url in [
        reverse("caseworkers:cases"),
        reverse("caseworkers:case_new"),
        reverse("caseworkers:case", args=[world["case"].public_id]),
        reverse("caseworkers:audit"),
        reverse("caseworkers:audit_export"),
        reverse("caseworkers:account"),
        reverse("caseworkers:review_queue"),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("caseworkers:sign_in")), url


def test_verified_user_without_membership_gets_not_found(client, world):
    verified(client, staff_user())
    assert client.get(reverse("caseworkers:cases")).status_code == 404


def test_caseworkers_are_not_leads(client, world):
    verified(client, world["alice"].user)
    assert client.get(reverse("caseworkers:audit")).status_code == 404
    assert client.get(reverse("caseworkers:audit_export")).status_code == 404


# --- The admin ------------------------------------------------------------------------------


def test_admin_is_not_found_for_a_signed_in_caseworker(client, world):
    verified(client, world["lena"].user)
    for url in [
        "/admin/",
        "/admin/login/",
        "/admin/caseworkers/organisation/",
        f"/admin/caseworkers/organisation/{world['north'].pk}/change/",
    ]:
        assert client.get(url).status_code == 404, url


def test_admin_needs_staff_with_a_verified_second_factor(client, world):
    staff = staff_user()
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    client.force_login(staff)  # password only
    assert client.get("/admin/").status_code == 302
    verified(client, staff)
    assert client.get("/admin/").status_code == 200


def test_admin_login_form_asks_for_the_second_factor(client):
    html = client.get("/admin/login/").content.decode()
    assert 'name="otp_token"' in html


# --- A wrong method is refused only after the access check (issue 11, item 12) -----------


def method_restricted_urls(case_id) -> list[tuple[str, str]]:
    """(wrong method, URL) for every caseworker and staff URL that takes only some methods."""
    return [
        ("post", reverse("caseworkers:cases")),
        ("post", reverse("caseworkers:case_new")),
        ("get", reverse("caseworkers:case_new_submit")),
        ("post", reverse("caseworkers:case", args=[case_id])),
        ("get", reverse("caseworkers:note_add", args=[case_id])),
        ("put", reverse("caseworkers:note_edit", args=[case_id, 1])),
        ("get", reverse("caseworkers:handover", args=[case_id])),
        ("post", reverse("caseworkers:audit")),
        ("post", reverse("caseworkers:audit_export")),
        ("post", reverse("caseworkers:account")),
        ("get", reverse("caseworkers:recovery_codes_new")),
        ("post", reverse("caseworkers:review_queue")),
        ("get", reverse("caseworkers:review_decide", args=["0123456789abcdef0123"])),
    ]


def wrong_method(client, method: str, url: str):
    return getattr(client, method)(url)


def test_a_wrong_method_from_a_stranger_is_sign_in_not_405(client, world):
    for method, url in method_restricted_urls(world["case"].public_id):
        response = wrong_method(client, method, url)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response["Location"].startswith(reverse("caseworkers:sign_in")), url


def test_a_wrong_method_on_another_organisations_case_is_not_found(client, world):
    verified(client, world["bob"].user)
    urls = method_restricted_urls(world["case"].public_id)
    case_scoped = [(m, u) for m, u in urls if "/cases/" in u and "new" not in u]
    assert len(case_scoped) == 4
    for method, url in case_scoped:
        assert wrong_method(client, method, url).status_code == 404, (method, url)


def test_a_wrong_method_on_pages_someone_may_not_see_is_not_found(client, world):
    verified(client, world["alice"].user)  # a caseworker: not a lead, not staff
    for name in ("audit", "audit_export", "review_queue"):
        assert client.post(reverse(f"caseworkers:{name}")).status_code == 404, name
    assert client.get(reverse("caseworkers:review_decide", args=["0123456789abcdef0123"])).status_code == 404


def test_the_same_wrong_methods_are_405_for_someone_allowed(client, world):
    """So the answers above are the access check speaking, not a missing route."""
    verified(client, world["lena"].user)
    lena_urls = [(m, u) for m, u in method_restricted_urls(world["case"].public_id) if "/staff/" not in u]
    for method, url in lena_urls:
        assert wrong_method(client, method, url).status_code == 405, (method, url)
    staff = staff_user("stella")
    verified(client, staff)
    assert client.post(reverse("caseworkers:review_queue")).status_code == 405
    assert client.get(reverse("caseworkers:review_decide", args=["0123456789abcdef0123"])).status_code == 405
