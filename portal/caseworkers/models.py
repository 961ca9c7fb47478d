"""Helplines, the people who work for them, and what they did.

A caseworker never needs more than their own organisation's assisted cases; every table here
carries the organisation so that the one accessor can say "not found" to everyone else.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organisation(models.Model):
    """A helpline that assists survivors. Created by service staff in the admin."""

    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField(
        default=True, help_text=_("An inactive organisation's caseworkers can no longer open any case.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    LEAD = "lead", _("Lead")
    CASEWORKER = "caseworker", _("Caseworker")


class Membership(models.Model):
    """One person works for one helpline. One-to-one on purpose: a caseworker at two helplines
    has two accounts, so nothing one organisation sees can leak into the other's session."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caseworker")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="members")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CASEWORKER)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.organisation})"

    @property
    def is_lead(self) -> bool:
        return self.role == Role.LEAD


class AssistedCase(models.Model):
    """A hashbank case that a helpline helped a survivor to start. The case itself knows
    nothing of this (hashbank never imports portal); only the helpline's side is kept here."""

    case = models.OneToOneField("hashbank.Case", on_delete=models.CASCADE, related_name="assisted")
    # Random, so URLs neither reveal how many cases a helpline has nor invite counting.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="assisted_cases")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Who looks after the case now; changed only by a handover within the organisation.
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "created_at"])]

    def __str__(self) -> str:
        return f"assisted case {self.public_id} ({self.organisation})"


class CaseNote(models.Model):
    """A caseworker's note. Its author may correct it for a short window, then it stands."""

    assisted_case = models.ForeignKey(AssistedCase, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"note {self.pk} on {self.assisted_case_id}"


class AuditAction(models.TextChoices):
    CASE_CREATED = "case_created", _("started an assisted case")
    CASE_VIEWED = "case_viewed", _("viewed a case")
    CASES_LISTED = "cases_listed", _("viewed the list of cases")
    NOTE_ADDED = "note_added", _("added a note")
    NOTE_EDITED = "note_edited", _("edited a note")
    HANDOVER = "handover", _("handed a case over")
    AUDIT_VIEWED = "audit_viewed", _("viewed the audit trail")
    AUDIT_EXPORTED = "audit_exported", _("exported the audit trail")
    ACCESS_REFUSED = "access_refused", _("was refused a case")


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("the audit trail is append-only")

    def delete(self):
        raise TypeError("the audit trail is append-only")


class AuditEvent(models.Model):
    """One look at or change to a case by staff: who, what, when. Append-only: the model
    refuses updates and deletes, and on PostgreSQL a trigger refuses them too, so not even a
    bug or a shell session can rewrite what happened."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    # The case's public id, not a foreign key: the record must outlive the case it is about
    # (a deleted case takes its AssistedCase with it, but not the fact that someone looked).
    case_public_id = models.UUIDField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["organisation", "at"]), models.Index(fields=["case_public_id"])]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise TypeError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("the audit trail is append-only")
