"""Password rules for staff accounts, on top of Django's.

Django's CommonPasswordValidator ships a list of the 20,000 passwords seen most often in
breach corpora, and it works offline; together with a 12-character minimum that stops the
guesses that actually succeed. A full offline breach corpus (hundreds of millions of hashes)
would be gigabytes in the repository for little gain once a second factor is mandatory, so
this module only adds what that list cannot know: the words anyone attacking *this* service
would try first.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

SERVICE_WORDS = ("imageshield", "image shield", "caseworker", "helpline", "survivor", "password", "welcome")


def _folded(text: str) -> str:
    # Compare letters only, so "Image-Shield 2026!" and "imageshield" are the same word, and
    # undo the commonest digit-for-letter swaps (p4ssw0rd).
    return re.sub(r"[^a-z]", "", text.lower().translate(str.maketrans("013457@$", "oleastas")))


class ServiceWordsValidator:
    """Refuse passwords built around the service's own name or the words of the job."""

    def __init__(self, words: tuple[str, ...] | None = None) -> None:
        self.words = tuple(words or SERVICE_WORDS)

    def _words(self) -> list[str]:
        return [_folded(w) for w in (*self.words, settings.SERVICE_NAME) if len(_folded(w)) >= 4]

    def validate(self, password: str, user: Any = None) -> None:
        folded = _folded(password)
        for word in self._words():
            if word in folded:
                raise ValidationError(
                    "This password is built around a word people guess first for this service. "
                    "Choose something unrelated, for example three or four random words.",
                    code="password_service_word",
                )

    def get_help_text(self) -> str:
        return "Your password cannot be built around the service's name or words like “helpline”."
