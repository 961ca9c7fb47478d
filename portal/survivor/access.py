"""The one way a survivor page reaches a case: the case opened in this session.

A case is opened with its reference and PIN (views.case_open); only its id is kept in the
session, never in a URL. Every case page and action asks `access_session_case`, which
answers None (and the page says "open your case") whether nothing was opened, the session
ran out, or the case has since been deleted.
"""

from __future__ import annotations

from django.http import HttpRequest

from hashbank.models import Case

SESSION_CASE_KEY = "survivor_case_id"
#: An opened case stays open for 30 idle minutes, and never past closing the browser.
SESSION_IDLE_SECONDS = 30 * 60


def session_case_open(request: HttpRequest, *, case: Case) -> None:
    # A new session key on opening, so a session id seen before cannot be used to reach it.
    request.session.cycle_key()
    request.session[SESSION_CASE_KEY] = case.pk
    request.session.set_expiry(SESSION_IDLE_SECONDS)


def session_case_forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_CASE_KEY, None)


def access_session_case(request: HttpRequest) -> Case | None:
    case_id = request.session.get(SESSION_CASE_KEY)
    if not isinstance(case_id, int):
        return None
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        session_case_forget(request)
        return None
    if case.status == Case.Status.DELETED:
        session_case_forget(request)
        return None
    # Still in use: keep the idle clock from running out mid-task.
    request.session.set_expiry(SESSION_IDLE_SECONDS)
    return case
