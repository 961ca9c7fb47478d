"""Writes for helplines. Every change to an assisted case, and every look at one, records an
audit event in the same transaction, so the trail cannot miss what happened."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from hashbank import services as bank
from hashbank.models import Case
from portal.caseworkers.models import (
    AssistedCase,
    AuditAction,
    AuditEvent,
    CaseNote,
    Membership,
    Organisation,
    Role,
)

logger = logging.getLogger(__name__)


class CaseworkerError(Exception):
    """A request that cannot be done; the message is safe to show to the caseworker (and is in
    their language: raised while their request is being answered)."""


def audit_record(
    *,
    membership: Membership,
    action: str,
    case_public_id: uuid.UUID | None = None,
    detail: str = "",
    at: datetime | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        organisation_id=membership.organisation_id,
        actor_id=membership.user_id,
        action=action,
        case_public_id=case_public_id,
        detail=detail[:300],
        at=at or timezone.now(),
    )


def organisation_create(*, name: str) -> Organisation:
    return Organisation.objects.create(name=name.strip())


@dataclass(frozen=True)
class NewCaseworker:
    user: AbstractBaseUser
    membership: Membership
    welcome_path: str


def caseworker_create(
    *, username: str, email: str, organisation: Organisation, role: str = Role.CASEWORKER
) -> NewCaseworker:
    """A helpline account with no usable password yet: its owner sets one through the
    one-time welcome link, then enrols a second factor at first sign-in. Nobody else ever
    knows the password."""
    if role not in Role.values:
        raise CaseworkerError(f"role must be one of {', '.join(Role.values)}")
    User = get_user_model()
    with transaction.atomic():
        user = User(username=username.strip(), email=email.strip(), is_staff=False)
        user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        membership = Membership.objects.create(user=user, organisation=organisation, role=role)
    return NewCaseworker(user=user, membership=membership, welcome_path=welcome_path(user=user))


def caseworker_reset(*, user: AbstractBaseUser) -> str:
    """A forgotten password or a lost phone: the password stops working, every second factor
    (authenticator and recovery codes) is removed and every session of the account ends. The
    owner starts again from a new welcome link, so nobody else ever learns their password, and
    nobody who only knew the old password can enrol a new authenticator."""
    with transaction.atomic():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        for device in devices_for_user(user, confirmed=None):
            device.delete()
    # Sessions need no sweep: Django ties each one to a hash of the password, which just
    # changed, so every open session of this account is signed out at its next request.
    logger.info("staff account reset (user id %s)", user.pk)
    return welcome_path(user=user)


def welcome_path(*, user: AbstractBaseUser) -> str:
    token = default_token_generator.make_token(user)
    # In the query string, not the path: access logs leave query strings out (deploy/).
    return reverse("caseworkers:welcome") + f"?k={urlsafe_base64_encode(force_bytes(user.pk))}.{token}"


@dataclass(frozen=True)
class AssistedReceipt:
    assisted_case: AssistedCase
    reference: str
    pin: str


def assisted_case_create(*, membership: Membership, files: list[list[dict[str, Any]]]) -> AssistedReceipt:
    """Start a case with the client present. The bank's case is the same as a survivor's own;
    this only adds which helpline helped. Reference and PIN go back to the page once, for the
    client, and are not kept here or logged."""
    with transaction.atomic():
        receipt = bank.case_create(files=files, origin=Case.Origin.HELPLINE)
        assisted = AssistedCase.objects.create(
            case=receipt.case,
            organisation_id=membership.organisation_id,
            created_by_id=membership.user_id,
            assigned_to_id=membership.user_id,
        )
        audit_record(
            membership=membership,
            action=AuditAction.CASE_CREATED,
            case_public_id=assisted.public_id,
            detail=f"{len(files)} file(s)",
        )
    return AssistedReceipt(assisted_case=assisted, reference=receipt.reference, pin=receipt.pin)


def case_viewed(*, membership: Membership, assisted_case: AssistedCase) -> None:
    audit_record(membership=membership, action=AuditAction.CASE_VIEWED, case_public_id=assisted_case.public_id)


def note_add(*, membership: Membership, assisted_case: AssistedCase, text: str) -> CaseNote:
    text = text.strip()
    if not text:
        raise CaseworkerError(_("A note cannot be empty."))
    with transaction.atomic():
        note = CaseNote.objects.create(
            assisted_case=assisted_case, author_id=membership.user_id, text=text, created_at=timezone.now()
        )
        audit_record(
            membership=membership,
            action=AuditAction.NOTE_ADDED,
            case_public_id=assisted_case.public_id,
            detail=f"note {note.pk}",
        )
    return note


def note_editable(*, note: CaseNote, user: AbstractBaseUser, now: datetime | None = None) -> bool:
    """Only the author, and only within the window: long enough to fix a typo or a wrong
    word straight after writing, short enough that colleagues can rely on what they read."""
    now = now or timezone.now()
    return note.author_id == user.pk and now - note.created_at <= settings.CASEWORKER_NOTE_EDIT_WINDOW


def note_edit(*, membership: Membership, note: CaseNote, text: str) -> CaseNote:
    text = text.strip()
    if not text:
        raise CaseworkerError(_("A note cannot be empty."))
    with transaction.atomic():
        note = CaseNote.objects.select_for_update().get(pk=note.pk)
        if not note_editable(note=note, user=membership.user):
            raise CaseworkerError(_("This note can no longer be changed. Add a new note instead."))
        note.text = text
        note.edited_at = timezone.now()
        note.save(update_fields=["text", "edited_at"])
        audit_record(
            membership=membership,
            action=AuditAction.NOTE_EDITED,
            case_public_id=note.assisted_case.public_id,
            detail=f"note {note.pk}",
        )
    return note


def case_handover(*, membership: Membership, assisted_case: AssistedCase, to_user_id: int) -> AssistedCase:
    """Give the case to a colleague at the same helpline. The current caseworker or a lead
    may do it; the colleague must be an active member of the same organisation."""
    if not (membership.is_lead or assisted_case.assigned_to_id == membership.user_id):
        raise CaseworkerError(_("Only the caseworker looking after this case, or a lead, can hand it over."))
    target = (
        Membership.objects.select_related("user")
        .filter(user_id=to_user_id, organisation_id=assisted_case.organisation_id, user__is_active=True)
        .first()
    )
    if target is None:
        raise CaseworkerError(_("Choose a colleague from your own organisation."))
    if target.user_id == assisted_case.assigned_to_id:
        raise CaseworkerError(_("That colleague already looks after this case."))
    with transaction.atomic():
        previous = assisted_case.assigned_to.get_username()
        AssistedCase.objects.filter(pk=assisted_case.pk).update(assigned_to_id=target.user_id)
        assisted_case.assigned_to = target.user
        audit_record(
            membership=membership,
            action=AuditAction.HANDOVER,
            case_public_id=assisted_case.public_id,
            detail=f"from {previous} to {target.user.get_username()}",
        )
    return assisted_case


def audit_viewed(*, membership: Membership, exported: bool = False) -> None:
    audit_record(membership=membership, action=AuditAction.AUDIT_EXPORTED if exported else AuditAction.AUDIT_VIEWED)


def cases_listed(*, membership: Membership) -> None:
    audit_record(membership=membership, action=AuditAction.CASES_LISTED)
