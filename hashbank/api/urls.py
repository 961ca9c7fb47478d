from django.urls import path

from hashbank.api import views

app_name = "feed_api"

urlpatterns = [
    path("feed", views.feed, name="feed"),
    path("checkpoint", views.checkpoint, name="checkpoint"),
    path("keys", views.keys, name="keys"),
    path("snapshots/latest", views.snapshot_latest, name="snapshot_latest"),
    path("snapshots/<int:position>/file", views.snapshot_file, name="snapshot_file"),
    path("feedback", views.feedback, name="feedback"),
    path("openapi.json", views.openapi, name="openapi"),
]
