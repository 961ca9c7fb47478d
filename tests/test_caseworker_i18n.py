"""The staff and helpline pages in Spanish and Arabic, as the survivor pages are: a caseworker
who picks a language with the site's language switch signs in, works and signs out in it, and
Arabic pages are right to left. Audit records and the CSV export stay in English."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.caseworkers.models import AuditAction, AuditEvent, Role
from tests.conftest import ROOT
from tests.test_caseworker_review_queue import held_fingerprint
from tests.test_caseworker_support import PASSWORD, assisted_case, code_for, member, organisation, staff_user, verified
from tests.test_i18n_catalogues import parse_po

pytestmark = pytest.mark.django_db

SIGN_IN = reverse("caseworkers:sign_in")
VERIFY = reverse("caseworkers:verify")
ENROL = reverse("caseworkers:enrol")
CASES = reverse("caseworkers:cases")
CASE_NEW = reverse("caseworkers:case_new")
ACCOUNT = reverse("caseworkers:account")
QUEUE = reverse("caseworkers:review_queue")
AUDIT = reverse("caseworkers:audit")

#: For each language, a phrase each page must show, and the English it replaces.
PHRASES = {
    "sign_in": ("Sign in for caseworkers",
                {"es": "Inicio de sesión para profesionales", "ar": "تسجيل دخول موظفي خطوط المساعدة"}),
    "cases": ("North Helpline: assisted cases",
              {"es": "North Helpline: casos acompañados", "ar": "North Helpline: الحالات المفتوحة بمساعدتكم"}),
    "case_new": ("Start a case with your client",
                 {"es": "Abre un caso con la persona usuaria", "ar": "ابدأ حالة مع المستفيد"}),
    "case": ("Write only what colleagues need.",
             {"es": "Escribe solo lo que necesitan tus compañeros.", "ar": "اكتب فقط ما يحتاج إليه زملاؤك."}),
    "timeline": ("Received</li>", {"es": "Huellas recibidas</li>", "ar": "استلام البصمات</li>"}),
    "account": ("Recovery codes left", {"es": "Códigos de recuperación que quedan", "ar": "رموز الاسترداد المتبقية"}),
    "role": ("(Caseworker)", {"es": "(Profesional)", "ar": "(أخصائي حالات)"}),
    "queue": ("Review queue", {"es": "Cola de revisión", "ar": "قائمة انتظار المراجعة"}),
    "evidence": ("2 partners reported a false match",
                 {"es": "2 plataformas asociadas avisaron de una coincidencia falsa",
                  "ar": "أبلغت منصتان شريكتان عن تطابق خاطئ"}),
    "signed_out": ("You have signed out.", {"es": "Has cerrado la sesión.", "ar": "لقد سجّلت الخروج."}),
}
DIRECTION = {"es": "ltr", "ar": "rtl"}


def _staff_english() -> set[str]:
    """The English of every sentence-length message of the staff pages (what must not be left
    on a translated page): from the catalogue's own references, so a new string is covered."""
    entries = parse_po(ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po")[1:]
    staff = ("templates/caseworkers/", "portal/caseworkers/")
    return {
        e["msgid"] for e in entries
        if any(ref.startswith(staff) for ref in e["refs"])
        and "%" not in e["msgid"] and len(e["msgid"]) >= 12 and e["msgstr"][0] != e["msgid"]
    }


STAFF_ENGLISH = _staff_english()


def assert_translated(page: str, language: str, *phrases: str) -> None:
    assert f'<html lang="{language}" dir="{DIRECTION[language]}">' in page
    for key in phrases:
        english, translated = PHRASES[key]
        assert translated[language] in page, f"{key}: {translated[language]!r} missing"
        assert english not in page, f"{key}: English {english!r} left"
    left = sorted(m for m in STAFF_ENGLISH if m in page or html.escape(m) in page)
    assert left == [], f"English left on a {language} page: {left}"


def choose_language(client: Client, language: str, next_url: str = SIGN_IN) -> None:
    response = client.post("/i18n/setlang/", {"language": language, "next": next_url})
    assert response.status_code == 302 and client.cookies[settings.LANGUAGE_COOKIE_NAME].value == language


@pytest.mark.parametrize("language", ["es", "ar"])
def test_a_caseworker_signs_in_works_and_signs_out_in_their_language(client, language):
    membership = member(organisation(), "sam")
    case = assisted_case(membership).assisted_case
    choose_language(client, language)

    assert_translated(client.get(SIGN_IN).content.decode(), language, "sign_in")
    assert client.post(SIGN_IN, {"username": "sam", "password": PASSWORD})["Location"] == VERIFY
    assert client.post(VERIFY, {"code": code_for(membership.user)})["Location"] == CASES

    assert_translated(client.get(CASES).content.decode(), language, "cases")
    assert_translated(client.get(CASE_NEW).content.decode(), language, "case_new")
    detail = client.get(reverse("caseworkers:case", args=[case.public_id])).content.decode()
    assert_translated(detail, language, "case", "timeline")
    assert_translated(client.get(ACCOUNT).content.decode(), language, "account", "role")

    # The messages framework speaks the language too, and it outlives the session.
    signed_out = client.post(reverse("caseworkers:sign_out"), follow=True).content.decode()
    assert_translated(signed_out, language, "sign_in", "signed_out")


@pytest.mark.parametrize("language", ["es", "ar"])
def test_the_staff_review_queue_is_translated(language):
    held_fingerprint()
    client = verified(Client(), staff_user())
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    assert_translated(client.get(QUEUE).content.decode(), language, "queue", "evidence")


def test_arabic_plural_forms_follow_the_count(client):
    """Arabic has six plural forms: the recovery-code warning picks the one for the number."""
    membership = member(organisation(), "new", enrolled=False)
    choose_language(client, "ar")
    client.post(SIGN_IN, {"username": "new", "password": PASSWORD})
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=membership.user)
    done = client.post(ENROL, {"code": f"{totp(device.bin_key):06d}"}).content.decode()
    recovery = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done)
    client.post(reverse("caseworkers:sign_out"))
    client.post(SIGN_IN, {"username": "new", "password": PASSWORD})
    page = client.post(VERIFY, {"code": recovery[0]}, follow=True).content.decode()
    assert "تبقّت لك 9 رموز" in page  # 3 to 10: the "few" form
    assert "are left" not in page


def test_validation_errors_and_service_messages_are_translated(client):
    membership = member(organisation(), "sam")
    case = assisted_case(membership).assisted_case
    choose_language(client, "es")
    refused = client.post(SIGN_IN, {"username": "sam", "password": "not the password at all"}).content.decode()
    assert "Ese nombre de usuario y esa contraseña no corresponden a ninguna cuenta." in refused
    assert "did not match an account" not in refused

    verified(client, membership.user)
    url = reverse("caseworkers:note_add", args=[case.public_id])
    empty = client.post(url, {"text": "   "}).content.decode()
    assert "Este campo es obligatorio." in empty  # Django's own catalogue
    added = client.post(url, {"text": "Called back on Monday."}, follow=True).content.decode()
    assert "Nota añadida." in added and "Note added." not in added


def test_the_audit_trail_page_is_translated_but_its_records_and_csv_stay_english(client):
    lead = member(organisation(), "lee", Role.LEAD)
    assisted_case(lead)
    verified(client, lead.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    client.get(CASES)
    page = client.get(AUDIT).content.decode()
    assert "consultó la lista de casos" in page and "abrió un caso acompañado" in page
    assert "2 file(s)" in page  # the stored detail is data, kept as written
    assert AuditEvent.objects.filter(action=AuditAction.CASES_LISTED).exists()

    rows = list(csv.reader(io.StringIO(client.get(reverse("caseworkers:audit_export")).content.decode())))
    assert rows[0] == ["when (UTC)", "who", "what", "case", "detail"]
    actions = {row[2] for row in rows[1:]}
    assert {"viewed the list of cases", "started an assisted case", "viewed the audit trail"} <= actions
    assert not any("consultó" in action or "abrió" in action for action in actions)


def test_staff_pages_in_english_are_unchanged(client):
    """Without a language choice the pages stay English (the existing tests rely on it)."""
    membership = member(organisation(), "sam")
    verified(client, membership.user)
    page = client.get(CASES).content.decode()
    assert '<html lang="en" dir="ltr">' in page and "North Helpline: assisted cases" in page


def test_the_staff_stylesheet_has_no_left_or_right_sides():
    """Arabic pages mirror only if the staff stylesheet names sides logically (inline-start,
    block-end), never physically (the browser journey checks a note's bar lands on the right)."""
    css = re.sub(r"/\*.*?\*/", "", (ROOT / "static/css/caseworkers.css").read_text(), flags=re.S)
    physical = re.findall(r"[\w-]*(?:left|right)[\w-]*\s*:|(?:float|clear|text-align)\s*:\s*(?:left|right)", css)
    assert physical == []
