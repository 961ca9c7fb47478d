from django.urls import path, re_path

from hashbank.api import lookup, views

app_name = "feed_api"

urlpatterns = [
    path("feed", views.feed, name="feed"),
    path("checkpoint", views.checkpoint, name="checkpoint"),
    path("keys", views.keys, name="keys"),
    path("snapshots/latest", views.snapshot_latest, name="snapshot_latest"),
    path("snapshots/<int:position>/file", views.snapshot_file, name="snapshot_file"),
    path("feedback", views.feedback, name="feedback"),
    path("evidence", views.evidence, name="evidence"),
    path("push", views.push, name="push"),
    path("lookup", lookup.lookup, name="lookup"),
    path("openapi.json", views.openapi, name="openapi"),
    # Last: everything else under /api/v1/ (snapshots/-1/file included) answers JSON 404.
    re_path(r"^(?P<rest>.*)$", views.not_found, name="not_found"),
]
