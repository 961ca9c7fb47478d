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
        "H3lpl1ne-H3lpl1ne",  # 1 for i, as seen from outside (issue 11)
        "1mag3Sh13ld-2026",  # 1 for i, 3 for e
        "$urv1v0r-$pring-99",  # $ for s, 1 for i, 0 for o
        "We!come-t0-the-team",  # ! for l... and i
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
    # The key is in the query string, and the first visit moves it into the session and
    # redirects to the bare page: it is never left in the address bar, the history or a log.
    assert "?k=" in created.welcome_path
    token = created.welcome_path.split("?k=", 1)[1]
    first = client.get(created.welcome_path)
    assert first.status_code == 302 and first["Location"] == "/caseworkers/welcome/"
    page = client.get("/caseworkers/welcome/")
    assert page.status_code == 200 and page["Cache-Control"].startswith("max-age=0")
    assert token not in page.content.decode()
    weak = {"new_password1": "helpline2026!!", "new_password2": "helpline2026!!"}
    refused = client.post("/caseworkers/welcome/", weak)
    assert refused.status_code == 200 and "built around a word" in refused.content.decode()
    done = client.post(
        "/caseworkers/welcome/", {"new_password1": "violet tractor hums", "new_password2": "violet tractor hums"}
    )
    assert done.status_code == 302
    created.user.refresh_from_db()
    assert created.user.check_password("violet tractor hums")
    # The token covered the old password hash: the same link now finds nothing, and says so
    # in the site's layout, with the quick exit.
    used = client.get(created.welcome_path)
    assert used.status_code == 404
    text = used.content.decode()
    assert "This link no longer works" in text and 'class="quick-exit"' in text and "ask your organisation" in text
    assert client.get("/caseworkers/welcome/").status_code == 404


def test_every_aria_describedby_on_the_welcome_page_points_at_something(client):
    import re

    created = services.caseworker_create(username="new2", email="", organisation=organisation())
    client.get(created.welcome_path)
    html = client.get("/caseworkers/welcome/").content.decode()
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    described = [i for group in re.findall(r'aria-describedby="([^"]+)"', html) for i in group.split()]
    assert described, "the password fields should describe their rules"
    assert all(i in ids for i in described), (described, sorted(ids))


@pytest.mark.parametrize("path", ["/caseworkers/welcome/?k=MQ.bad-token", "/caseworkers/welcome/?k=!!!.x",
                                  "/caseworkers/welcome/?k=", "/caseworkers/welcome/"])
def test_a_forged_welcome_link_finds_nothing(client, path):
    services.caseworker_create(username="new", email="", organisation=organisation())
    assert client.get(path).status_code == 404
