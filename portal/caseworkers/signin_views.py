"""Staff sign-in pages: password, then the second factor (or, the first time, enrolling one),
then sign-out. Failures are logged with no username, password, code or address."""

from __future__ import annotations

import logging

import segno
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from portal.caseworkers import signin
from portal.caseworkers.forms import CodeForm, EnrolCodeForm, SignInForm, WelcomePasswordForm

logger = logging.getLogger(__name__)

NEXT_KEY = "caseworkers_next"


def _next_url(request: HttpRequest) -> str:
    candidate = request.session.pop(NEXT_KEY, "") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    # Service staff without a helpline membership work in the review queue.
    if request.user.is_staff and not hasattr(request.user, "caseworker"):
        return "caseworkers:review_queue"
    return "caseworkers:cases"


@never_cache
@sensitive_post_parameters("password")
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SignInForm(request, data=request.POST)
        if form.is_valid():
            user = form.get_user()
            next_url = request.GET.get("next", "")
            signin.pending_start(request, user)
            request.session[NEXT_KEY] = next_url
            if signin.totp_device(user) is None:
                return redirect("caseworkers:enrol")
            return redirect("caseworkers:verify")
        logger.warning("staff sign-in refused: wrong username or password")
    else:
        form = SignInForm(request)
    ended = request.session.pop(signin.ENDED_KEY, None)
    return render(request, "caseworkers/sign_in.html", {"form": form, "ended": ended})


@never_cache
@sensitive_post_parameters("code")
def verify(request: HttpRequest) -> HttpResponse:
    user = signin.pending_user(request)
    if user is None:
        return redirect("caseworkers:sign_in")
    if signin.totp_device(user) is None:
        return redirect("caseworkers:enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = signin.second_factor_check(user, form.cleaned_data["code"])
        if device is not None:
            signin.complete(request, user, device)
            if device.name == signin.RECOVERY_DEVICE_NAME:
                left = signin.recovery_codes_left(user)
                messages.warning(
                    request,
                    ngettext(
                        "You used a recovery code. %(left)d is left; make new ones from “Your account” soon.",
                        "You used a recovery code. %(left)d are left; make new ones from “Your account” soon.",
                        left,
                    )
                    % {"left": left},
                )
            return redirect(_next_url(request))
        logger.warning("staff second factor refused (user id %s)", user.pk)
        form.add_error("code", _("That code did not work. Codes change every 30 seconds; try the one showing now."))
    return render(request, "caseworkers/verify.html", {"form": form})


@never_cache
@sensitive_post_parameters("code")
def enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in: set up an authenticator app. Reachable only a moment after the right
    password, and only while the account has no authenticator yet."""
    user = signin.pending_user(request)
    if user is None:
        return redirect("caseworkers:sign_in")
    if signin.totp_device(user) is not None:
        return redirect("caseworkers:verify")
    device = signin.enrolment_device(user)
    form = EnrolCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = signin.recovery_codes_issue(user)
            signin.complete(request, user, device)
            # Shown in this response only; nothing keeps them for a second look.
            return render(request, "caseworkers/recovery_codes.html", {"codes": codes, "next": _next_url(request)})
        logger.warning("staff authenticator enrolment code refused (user id %s)", user.pk)
        form.add_error(
            "code", _("That code did not match. Check the app shows “Image Shield” and try the current code.")
        )
    uri = device.config_url
    qr_svg = segno.make(uri, error="m").svg_inline(
        scale=4, title=_("QR code for your authenticator app"), light="#fff", omitsize=True
    )
    secret = uri.split("secret=", 1)[1].split("&", 1)[0]
    return render(
        request,
        "caseworkers/enrol.html",
        {
            "form": form,
            "qr_svg": qr_svg,
            "uri": uri,
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        },
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You have signed out."))
    return redirect("caseworkers:sign_in")


#: The welcome link's key, kept in the session after its first use so it leaves the address
#: bar at once and never appears in a later URL, history entry or log line.
WELCOME_KEY = "caseworkers_welcome"


def _welcome_user(raw: object):
    """The account a welcome key opens, or None (malformed, expired, already used)."""
    if not isinstance(raw, str) or "." not in raw:
        return None
    uidb64, _, token = raw.partition(".")
    try:
        user = get_user_model().objects.get(pk=int(urlsafe_base64_decode(uidb64).decode()), is_active=True)
    except (ValueError, TypeError, UnicodeDecodeError, get_user_model().DoesNotExist):
        return None
    if not default_token_generator.check_token(user, token):
        logger.warning("welcome link refused: expired or already used")
        return None
    return user


@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def welcome(request: HttpRequest) -> HttpResponse:
    """A new caseworker sets their first password from the one-time link they were given.
    The link stops working once a password is set (the token covers the password hash).

    The key travels in the query string (`?k=`), which our nginx and gunicorn logs leave out,
    and the first request moves it into the session and redirects to the bare page, so it is
    not left in the address bar or the browser history either (issue 11)."""
    if request.method == "GET" and "k" in request.GET:
        if _welcome_user(request.GET["k"]) is None:
            return render(request, "caseworkers/welcome_invalid.html", status=404)
        request.session[WELCOME_KEY] = request.GET["k"]
        return redirect("caseworkers:welcome")
    user = _welcome_user(request.session.get(WELCOME_KEY))
    if user is None:
        return render(request, "caseworkers/welcome_invalid.html", status=404)
    form = WelcomePasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        request.session.pop(WELCOME_KEY, None)
        messages.success(request, _("Your password is set. Sign in to set up your second factor."))
        return redirect("caseworkers:sign_in")
    return render(request, "caseworkers/welcome.html", {"form": form})
