"""Admin for service staff: partners and their keys, and read-only views of the feed's state.

Cases, files and fingerprints are deliberately absent: staff reach held fingerprints through
the review queue (issue 6), never by browsing survivors' cases. API keys are issued with
`manage.py partner_key_issue` (shown once on the terminal), not here, so a key never passes
through a session or a message store.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from hashbank.keygeneration import partner_keys_changed
from hashbank.models import FeedHead, Heartbeat, Partner, PartnerKey, SigningKey, Snapshot
from hashbank.services import partner_key_revoke


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "beats", "last_beat_at")
    readonly_fields = ("name", "beats", "last_beat_at")


class PartnerKeyInline(admin.TabularInline):
    model = PartnerKey
    fields = ("prefix", "label", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "listed_publicly", "public_name", "is_active", "created_at")
    list_filter = ("listed_publicly", "is_active")
    fields = ("name", "listed_publicly", "public_name", "is_active", "created_at")
    readonly_fields = ("created_at",)
    inlines = [PartnerKeyInline]

    def save_model(self, request: HttpRequest, obj: Partner, form: object, change: bool) -> None:
        if not change:
            from django.utils import timezone

            obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)
        # A partner suspended here is refused from the next request on, cached keys included.
        partner_keys_changed()


@admin.register(PartnerKey)
class PartnerKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "partner", "label", "created_at", "last_used_at", "revoked_at")
    list_filter = ("partner",)
    readonly_fields = ("partner", "prefix", "label", "created_at", "last_used_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys (requests with them are refused at once)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[PartnerKey]) -> None:
        for key in queryset:
            partner_key_revoke(key=key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("kid", "status", "created_at", "retire_after")
    exclude = ("private_key_encrypted",)


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ("position", "count", "size", "created_at", "kid")
    exclude = ("manifest_body",)


@admin.register(FeedHead)
class FeedHeadAdmin(ReadOnlyAdmin):
    list_display = ("position", "checkpoint_version", "checkpoint_expires_at", "floor_position", "updated_at")
    exclude = ("checkpoint_body",)
