from django.contrib import admin

from hashbank.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "beats", "last_beat_at")
    readonly_fields = ("name", "beats", "last_beat_at")
