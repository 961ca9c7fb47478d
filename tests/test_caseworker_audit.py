"""The audit trail: every staff view and change of a case, append-only, for leads only,
exportable as CSV that a spreadsheet cannot execute."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from portal.caseworkers import services
from portal.caseworkers.exports import csv_safe
from portal.caseworkers.models import AuditAction, AuditEvent, Role
from tests.test_caseworker_support import assisted_case, member, organisation, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    north = organisation("North")
    alice, carl = member(north, "alice"), member(north, "carl")
    lena = member(north, "lena", Role.LEAD)
    bob = member(organisation("South"), "bob")
    return {"north": north, "alice": alice, "carl": carl, "lena": lena, "bob": bob}


def actions(case_public_id=None) -> list[tuple[str, str]]:
    events = AuditEvent.objects.order_by("at", "pk")
    if case_public_id is not None:
        events = events.filter(case_public_id=case_public_id)
    return [(e.actor.get_username(), e.action) for e in events]


def test_every_view_and_change_of_a_case_is_recorded(client, world):
    case = assisted_case(world["alice"]).assisted_case
    verified(client, world["alice"].user)
    client.get(reverse("caseworkers:case", args=[case.public_id]))
    client.post(reverse("caseworkers:note_add", args=[case.public_id]), {"text": "first contact"})
    note = case.notes.get()
    client.get(reverse("caseworkers:note_edit", args=[case.public_id, note.pk]))  # shows the note: a view
    client.post(reverse("caseworkers:note_edit", args=[case.public_id, note.pk]), {"text": "first contact, calm"})
    client.post(reverse("caseworkers:note_add", args=[case.public_id]), {"text": " "})  # refused, case re-shown
    client.post(reverse("caseworkers:handover", args=[case.public_id]), {"to": world["carl"].user_id})
    verified(client, world["carl"].user)
    client.get(reverse("caseworkers:case", args=[case.public_id]))
    assert actions(case.public_id) == [
        ("alice", AuditAction.CASE_CREATED),
        ("alice", AuditAction.CASE_VIEWED),
        ("alice", AuditAction.NOTE_ADDED),
        ("alice", AuditAction.CASE_VIEWED),
        ("alice", AuditAction.NOTE_EDITED),
        ("alice", AuditAction.CASE_VIEWED),
        ("alice", AuditAction.HANDOVER),
        ("carl", AuditAction.CASE_VIEWED),
    ]
    client.get(reverse("caseworkers:cases"))
    assert AuditEvent.objects.filter(action=AuditAction.CASES_LISTED, actor=world["carl"].user).count() == 1


def test_the_trail_is_append_only_in_the_model(world):
    event = services.audit_record(membership=world["alice"], action=AuditAction.CASES_LISTED)
    event.detail = "rewritten"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(detail="rewritten")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()


def test_the_trail_is_append_only_in_postgresql_too(postgres, world):
    from django.db import DatabaseError, transaction

    event = services.audit_record(membership=world["alice"], action=AuditAction.CASES_LISTED)
    table = AuditEvent._meta.db_table
    for sql in (f"UPDATE {table} SET detail = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).detail == ""


def test_only_leads_see_the_trail_and_only_their_own_organisation(client, world):
    assisted_case(world["alice"])
    south_case = assisted_case(world["bob"]).assisted_case
    verified(client, world["alice"].user)
    assert client.get(reverse("caseworkers:audit")).status_code == 404
    verified(client, world["lena"].user)
    page = client.get(reverse("caseworkers:audit"))
    html = page.content.decode()
    assert page.status_code == 200 and "alice" in html and "bob" not in html
    assert str(south_case.public_id)[:8] not in html
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_VIEWED, actor=world["lena"].user).exists()


def test_csv_export_has_every_event_and_neutralises_formulas(client, world):
    # Django usernames may start with @ + - (not =), so a staff name alone can carry a formula.
    evil = services.caseworker_create(username="@SUM+A1", email="", organisation=world["north"]).membership
    case = assisted_case(world["alice"]).assisted_case
    services.audit_record(
        membership=evil, action=AuditAction.CASE_VIEWED, case_public_id=case.public_id, detail="+cmd|' /C calc'!A0"
    )
    services.audit_record(membership=world["alice"], action=AuditAction.CASE_VIEWED, detail="=HYPERLINK(x)")
    services.audit_record(membership=world["alice"], action=AuditAction.CASE_VIEWED, detail="-2+3")
    verified(client, world["lena"].user)
    response = client.get(reverse("caseworkers:audit_export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["when (UTC)", "who", "what", "case", "detail"]
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c[:1] in {"=", "+", "-", "@"}]
    assert "'=HYPERLINK(x)" in cells and "'+cmd|' /C calc'!A0" in cells and "'@SUM+A1" in cells and "'-2+3" in cells
    # Everything of the organisation (plus this export itself), nothing of the other one.
    assert len(rows) - 1 == AuditEvent.objects.filter(organisation=world["north"]).count()
    assert "bob" not in response.content.decode()


@pytest.mark.parametrize(
    ("raw", "safe"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("ok", "ok"), (None, "")],
)
def test_csv_safe(raw, safe):
    assert csv_safe(raw) == safe
