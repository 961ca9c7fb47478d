"""Password rules for staff: 12 characters, not a common (breach-listed) password, not built
around the service's own words; first passwords are set from a one-time welcome link."""

from __future__ import annotations

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from portal.caseworkers import services
from tests.test_caseworker_support import organisation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "password",
    [
        "password1234",  # in Django's bundled list of common (breached) passwords
        "qwertyuiop123",  # ditto
        "ImageShield2026!",  # the service's name
        "Image-Shield-rocks",  # with separators
        "my helpline job 99",  # the job's own words
        "c4sew0rker-summer",  # digit-for-letter swaps
        "short1!",  # too short
        "1234567890123",  # all digits
    ],
)
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


@pytest.mark.parametrize("password", ["violet tractor hums quietly", "Gx7#mP2!vQ9zL"])
def test_strong_passwords_pass(password):
    validate_password(password)


def test_welcome_link_sets_the_first_password_once(client):
    created = services.caseworker_create(username="new", email="new@example.org", organisation=organisation())
    assert not created.user.has_usable_password()
    page = client.get(created.welcome_path)
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    refused = client.post(created.welcome_path, {"new_password1": "helpline2026!!", "new_password2": "helpline2026!!"})
    assert refused.status_code == 200 and "built around a word" in refused.content.decode()
    done = client.post(
        created.welcome_path, {"new_password1": "violet tractor hums", "new_password2": "violet tractor hums"}
    )
    assert done.status_code == 302
    created.user.refresh_from_db()
    assert created.user.check_password("violet tractor hums")
    # The token covered the old password hash: the same link now finds nothing.
    assert client.get(created.welcome_path).status_code == 404


@pytest.mark.parametrize("path", ["/caseworkers/welcome/MQ/bad-token/", "/caseworkers/welcome/!!!/x/"])
def test_a_forged_welcome_link_finds_nothing(client, path):
    services.caseworker_create(username="new", email="", organisation=organisation())
    assert client.get(path).status_code == 404
