"""Forms for the pages that work without JavaScript: eligibility and opening a case."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class EligibilityForm(forms.Form):
    AGE_ADULT = "adult"
    AGE_UNDER_18 = "under_18"

    age = forms.ChoiceField(
        label=_("How old are you?"),
        choices=[(AGE_ADULT, _("18 or over")), (AGE_UNDER_18, _("Under 18"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Please tell us if you are 18 or over.")},
    )
    pictured = forms.BooleanField(
        label=_("I am the person in the images or videos I will choose."),
        required=False,
    )
    consent = forms.BooleanField(
        label=_(
            "I agree that fingerprints of my images or videos are shared with the partner platforms, "
            "so they can find and block copies."
        ),
        required=False,
    )

    def is_under_18(self) -> bool:
        return self.is_valid() and self.cleaned_data["age"] == self.AGE_UNDER_18

    def clean(self) -> dict:
        data = super().clean()
        # An under-18 answer goes to Take It Down; the other questions do not apply to them.
        # Without an answer to the age question the others are still checked, so that every
        # missing answer is named at once rather than one more each time the form is sent.
        if data.get("age") != self.AGE_UNDER_18:
            if not data.get("pictured"):
                self.add_error("pictured", _("This service is only for the person in the images."))
            if not data.get("consent"):
                self.add_error(
                    "consent", _("We can only help if you agree to share the fingerprints with partners.")
                )
        return data


class OpenCaseForm(forms.Form):
    reference = forms.CharField(
        label=_("Case number"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
        error_messages={"required": _("Enter your case number.")},
    )
    pin = forms.CharField(
        label=_("PIN"),
        max_length=32,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        error_messages={"required": _("Enter your PIN.")},
    )
