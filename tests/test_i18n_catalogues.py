"""The Spanish and Arabic catalogues are complete: every message translated, nothing fuzzy,
placeholders kept, the committed .mo files compiled from the committed .po files, and every
message of the survivor pages and of the staff and helpline pages present in the catalogues.
The pages then render in each language, Arabic right to left (the staff pages' own check is
tests/test_caseworker_i18n.py)."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import ROOT, require

LOCALE = ROOT / "locale"
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
#: The files whose messages must be in the catalogues (the survivor journey and the frame, and
#: the caseworker, helpline and staff pages).
SOURCES = ("templates/base.html", "templates/_quick_exit.html", "templates/404.html", "templates/500.html",
           "templates/portal/",
           "templates/survivor/", "portal/survivor/", "portal/errors.py",
           "templates/caseworkers/", "portal/caseworkers/")


def _unquote(line: str) -> str:
    body = line.strip()
    assert body.startswith('"') and body.endswith('"'), body
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body[1:-1])


def parse_po(path: Path) -> list[dict]:
    """Entries as {"flags", "refs", "msgctxt", "msgid", "msgid_plural", "msgstr": [..]} (a small
    reader: the project has no gettext library to lean on; msgctxt and msgid_plural only where
    the entry has them)."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": set(), "refs": [], "msgstr": {}}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
            elif line.startswith("#:"):
                entry["refs"] += line[2:].split()
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                if key.startswith("msgstr"):
                    entry["msgstr"][key] += _unquote(line)
                else:
                    entry[key] += _unquote(line)
            else:
                key, rest = line.split(" ", 1)
                if key.startswith("msgstr"):
                    entry["msgstr"][key] = _unquote(rest)
                else:
                    entry[key] = _unquote(rest)
        entry["msgstr"] = [entry["msgstr"][k] for k in sorted(entry["msgstr"])]
        entries.append(entry)
    return entries


def nplurals(header: str) -> int:
    match = re.search(r"nplurals=(\d+)", header)
    assert match, "the catalogue declares no Plural-Forms"
    return int(match.group(1))


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_nothing_is_fuzzy(language):
    entries = parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert f"Language: {language}" in header["msgstr"][0]
    forms = nplurals(header["msgstr"][0])
    assert len(messages) > 150
    for entry in messages:
        where = f"{language}: {entry['msgid']!r}"
        assert "fuzzy" not in entry["flags"], where
        assert entry["msgstr"] and all(s.strip() for s in entry["msgstr"]), f"untranslated {where}"
        if "msgid_plural" in entry:
            assert len(entry["msgstr"]) == forms, where
            allowed = set(PLACEHOLDER.findall(entry["msgid_plural"]))
            for text in entry["msgstr"]:
                assert set(PLACEHOLDER.findall(text)) <= allowed, where
        else:
            assert set(PLACEHOLDER.findall(entry["msgstr"][0])) == set(PLACEHOLDER.findall(entry["msgid"])), where


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_file_is_compiled_from_the_po_file(language):
    directory = LOCALE / language / "LC_MESSAGES"
    with (directory / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in parse_po(directory / "django.po")[1:]:
        context = entry.get("msgctxt")
        if "msgid_plural" in entry:
            for n, text in [(1, entry["msgstr"][0]), (7, None)]:
                if context is None:
                    got = compiled.ngettext(entry["msgid"], entry["msgid_plural"], n)
                else:
                    got = compiled.npgettext(context, entry["msgid"], entry["msgid_plural"], n)
                assert got != entry["msgid"] and (text is None or language != "es" or got == text), entry["msgid"]
        else:
            if context is None:
                got = compiled.gettext(entry["msgid"])
            else:
                got = compiled.pgettext(context, entry["msgid"])
            assert got == entry["msgstr"][0], f"stale .mo: {entry['msgid']!r}"


def _keys(entries: list[dict]) -> set[tuple[str | None, str, str | None]]:
    return {(e.get("msgctxt"), e["msgid"], e.get("msgid_plural")) for e in entries}


def test_every_message_of_the_survivor_and_staff_pages_is_in_the_catalogues(tmp_path, monkeypatch):
    """Extract the messages again (Django's makemessages, which needs GNU gettext) from a copy
    of the sources and compare: a new string without a translation fails here."""
    require(shutil.which("xgettext") is not None, "GNU gettext (apt-get install gettext)")
    work = tmp_path / "project"
    for source in SOURCES:
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(src, work / source)
        else:
            (work / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, work / source)
    (work / "locale").mkdir()
    manage = ROOT / "manage.py"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "portal.settings", "PYTHONPATH": str(ROOT), "DEBUG": "1"}
    subprocess.run(
        [sys.executable, str(manage), "makemessages", "-l", "es", "--no-location", "--no-wrap"],
        cwd=work, check=True, capture_output=True, env=env,
    )
    extracted = _keys(parse_po(work / "locale/es/LC_MESSAGES/django.po")[1:])
    assert len(extracted) > 300
    # The staff pages are part of the extraction (a source list that lost them would pass).
    assert (None, "Sign in for caseworkers", None) in extracted
    assert ("case event", "received", None) in extracted
    for language in TRANSLATED:
        have = _keys(parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")[1:])
        assert extracted - have == set(), f"missing from {language}: {sorted(extracted - have, key=str)[:10]}"


@pytest.mark.django_db
@pytest.mark.parametrize("language,direction,phrase", [
    ("es", "ltr", "Antes de empezar"),
    ("ar", "rtl", "قبل أن تبدأ"),
])
def test_pages_render_in_each_language(language, direction, phrase):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": language, "next": "/start/"})
    assert response.status_code == 302
    page = client.get("/start/").content.decode()
    assert f'lang="{language}"' in page and f'dir="{direction}"' in page
    assert phrase in page
    assert "Before you start" not in page
