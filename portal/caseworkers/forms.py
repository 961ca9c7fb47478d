"""Forms for staff pages. Field names avoid "password" except where a password is typed, so
axes and the loggers know exactly which values to mask."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.utils.translation import gettext_lazy as _


class SignInForm(AuthenticationForm):
    error_messages = {
        # One message for every failure: it does not say whether the account exists.
        "invalid_login": _("That username and password did not match an account. Check them and try again."),
        "inactive": _("That username and password did not match an account. Check them and try again."),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def confirm_login_allowed(self, user) -> None:
        # Inactive accounts never authenticate with ModelBackend; nothing more to say here.
        return None


class CodeForm(forms.Form):
    """A six-digit code from the authenticator app, or a recovery code."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )


class EnrolCodeForm(forms.Form):
    code = forms.CharField(
        label=_("The six-digit code your app shows now"),
        min_length=6,
        max_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]{6}"}),
    )


class WelcomePasswordForm(SetPasswordForm):
    """Setting the first password from the welcome link; the site's password rules apply."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("new_password1", "new_password2"):
            self.fields[name].widget.attrs.update({"autocomplete": "new-password"})


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4}))


class HandoverForm(forms.Form):
    to = forms.ChoiceField(label=_("Hand this case over to"))

    def __init__(self, *args, colleagues: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(str(pk), name) for pk, name in colleagues]


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("clear", _("Clear: the fingerprint is sound, share it again")),
            ("remove", _("Remove it from the feed")),
            ("harmless", _("Not intimate image abuse: remove it and hold the same picture in future")),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(label=_("Reason (recorded)"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))
