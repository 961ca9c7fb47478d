"""No IP addresses, user agents or file names are stored with cases: a whole journey is run
with distinctive values in every header, then every row of every table is searched for them."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core import serializers
from django.core.cache import cache
from django.test import Client

from tests.survivor_helpers import consented_client, photo_fingerprints, post_json, submission

ADDRESS = "203.0.113.77"
AGENT = "Mozilla/5.0 (DistinctiveAgent-5b1c)"
FILE_NAME = "holiday-IMG_7731.jpg"


@pytest.mark.django_db
def test_nothing_identifying_is_stored_anywhere_in_the_database():
    cache.clear()
    headers = {"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": AGENT, "HTTP_X_FORWARDED_FOR": ADDRESS,
               "HTTP_REFERER": f"http://127.0.0.1/{FILE_NAME}"}
    client = consented_client(Client(**headers))
    receipt = post_json(client, "/api/survivor/cases", submission([photo_fingerprints(0)])).json()
    client.post("/case/", {"reference": receipt["reference"], "pin": "000000"})  # a failure, too
    client.post("/case/", {"reference": receipt["reference"], "pin": receipt["pin"]})
    post_json(client, "/api/survivor/case/files", submission([photo_fingerprints(1)]))
    client.post("/case/withdraw/")

    dump = "".join(
        serializers.serialize("json", model.objects.all())
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy and model._meta.app_label != "sessions"
    )
    assert '"hashbank.case"' in dump
    for secret in (ADDRESS, "DistinctiveAgent", FILE_NAME, receipt["reference"], receipt["pin"]):
        assert secret not in dump, secret
