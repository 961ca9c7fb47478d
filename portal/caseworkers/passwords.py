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
from django.utils.translation import gettext as _

SERVICE_WORDS = ("imageshield", "image shield", "caseworker", "helpline", "survivor", "password", "welcome")


#: What each letter may be written as. "1" stands for both i and l (H3lpl1ne, 1mag3Sh13ld), so
#: the words are matched as patterns rather than by undoing the swaps one way.
_LOOKALIKES = {"a": "a4@", "b": "b8", "e": "e3", "g": "g96", "i": "i1!|", "l": "l1|!", "o": "o0", "s": "s5$",
               "t": "t7+", "z": "z2"}


def _folded(text: str) -> str:
    # Letters, digits and look-alike symbols only, so "Image-Shield 2026!" and "imageshield"
    # line up: separators and spaces go.
    return re.sub(r"[^a-z0-9@$!|+]", "", text.lower())


def _pattern(word: str) -> re.Pattern[str]:
    letters = re.sub(r"[^a-z]", "", word.lower())
    return re.compile("".join(f"[{re.escape(_LOOKALIKES.get(c, c))}]" for c in letters))


class ServiceWordsValidator:
    """Refuse passwords built around the service's own name or the words of the job."""

    def __init__(self, words: tuple[str, ...] | None = None) -> None:
        self.words = tuple(words or SERVICE_WORDS)

    def _words(self) -> list[re.Pattern[str]]:
        words = (*self.words, settings.SERVICE_NAME)
        return [_pattern(w) for w in words if len(re.sub(r"[^a-z]", "", w.lower())) >= 4]

    def validate(self, password: str, user: Any = None) -> None:
        folded = _folded(password)
        for word in self._words():
            if word.search(folded):
                raise ValidationError(
                    _(
                        "This password is built around a word people guess first for this service. "
                        "Choose something unrelated, for example three or four random words."
                    ),
                    code="password_service_word",
                )

    def get_help_text(self) -> str:
        return _("Your password cannot be built around the service's name or words like “helpline”.")
