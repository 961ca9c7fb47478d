"""Notes: who, when, text; editable only by their author for 15 minutes. Handover: only to
an active colleague of the same organisation, by the current caseworker or a lead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.caseworkers import services
from portal.caseworkers.models import AuditAction, AuditEvent, CaseNote, Role
from tests.test_caseworker_support import assisted_case, member, organisation, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    north = organisation("North")
    alice, carl = member(north, "alice"), member(north, "carl")
    lena = member(north, "lena", Role.LEAD)
    bob = member(organisation("South"), "bob")
    case = assisted_case(alice).assisted_case
    return {"alice": alice, "carl": carl, "lena": lena, "bob": bob, "case": case}


def test_adding_a_note_shows_who_and_when(client, world):
    verified(client, world["alice"].user)
    response = client.post(
        reverse("caseworkers:note_add", args=[world["case"].public_id]), {"text": "Client <b>ok</b>"}
    )
    assert response.status_code == 302
    note = CaseNote.objects.get()
    assert (note.author, note.text) == (world["alice"].user, "Client <b>ok</b>")
    html = client.get(reverse("caseworkers:case", args=[world["case"].public_id])).content.decode()
    assert "Client &lt;b&gt;ok&lt;/b&gt;" in html and "alice" in html
    assert AuditEvent.objects.filter(action=AuditAction.NOTE_ADDED, case_public_id=world["case"].public_id).exists()


def test_an_empty_note_is_refused(client, world):
    verified(client, world["alice"].user)
    response = client.post(reverse("caseworkers:note_add", args=[world["case"].public_id]), {"text": "   "})
    assert response.status_code == 200 and not CaseNote.objects.exists()


def test_the_author_can_edit_within_the_window(client, world):
    note = services.note_add(membership=world["alice"], assisted_case=world["case"], text="frist")
    verified(client, world["alice"].user)
    url = reverse("caseworkers:note_edit", args=[world["case"].public_id, note.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"text": "first"})
    note.refresh_from_db()
    assert note.text == "first" and note.edited_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.NOTE_EDITED).count() == 1


def test_nobody_else_can_edit_not_even_a_lead(client, world):
    note = services.note_add(membership=world["alice"], assisted_case=world["case"], text="mine")
    url = reverse("caseworkers:note_edit", args=[world["case"].public_id, note.pk])
    for other in (world["carl"], world["lena"]):
        verified(client, other.user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"text": "changed"}).status_code == 404
    with pytest.raises(services.CaseworkerError):
        services.note_edit(membership=world["lena"], note=note, text="changed")
    note.refresh_from_db()
    assert note.text == "mine"


def test_after_fifteen_minutes_the_note_stands(client, world):
    note = services.note_add(membership=world["alice"], assisted_case=world["case"], text="old")
    CaseNote.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(minutes=15, seconds=1))
    verified(client, world["alice"].user)
    url = reverse("caseworkers:note_edit", args=[world["case"].public_id, note.pk])
    assert client.post(url, {"text": "new"}).status_code == 302
    note.refresh_from_db()
    assert note.text == "old"
    with pytest.raises(services.CaseworkerError):
        services.note_edit(membership=world["alice"], note=note, text="new")


def test_a_note_id_from_another_case_is_not_found(client, world):
    other_case = assisted_case(world["alice"]).assisted_case
    note = services.note_add(membership=world["alice"], assisted_case=other_case, text="elsewhere")
    verified(client, world["alice"].user)
    assert client.get(reverse("caseworkers:note_edit", args=[world["case"].public_id, note.pk])).status_code == 404


def test_handover_to_a_colleague(client, world):
    verified(client, world["alice"].user)
    response = client.post(
        reverse("caseworkers:handover", args=[world["case"].public_id]), {"to": world["carl"].user_id}
    )
    assert response.status_code == 302
    world["case"].refresh_from_db()
    assert world["case"].assigned_to == world["carl"].user
    event = AuditEvent.objects.get(action=AuditAction.HANDOVER)
    assert event.actor == world["alice"].user and "carl" in event.detail


def test_handover_only_within_the_organisation(client, world):
    verified(client, world["alice"].user)
    response = client.post(
        reverse("caseworkers:handover", args=[world["case"].public_id]), {"to": world["bob"].user_id}
    )
    assert response.status_code == 200
    world["case"].refresh_from_db()
    assert world["case"].assigned_to == world["alice"].user
    with pytest.raises(services.CaseworkerError):
        services.case_handover(membership=world["alice"], assisted_case=world["case"], to_user_id=world["bob"].user_id)


def test_handover_by_someone_not_looking_after_the_case_needs_a_lead(world):
    with pytest.raises(services.CaseworkerError):
        services.case_handover(membership=world["carl"], assisted_case=world["case"], to_user_id=world["carl"].user_id)
    services.case_handover(membership=world["lena"], assisted_case=world["case"], to_user_id=world["carl"].user_id)
    world["case"].refresh_from_db()
    assert world["case"].assigned_to == world["carl"].user


def test_handover_to_an_inactive_colleague_is_refused(world):
    world["carl"].user.is_active = False
    world["carl"].user.save()
    with pytest.raises(services.CaseworkerError):
        services.case_handover(membership=world["alice"], assisted_case=world["case"], to_user_id=world["carl"].user_id)
