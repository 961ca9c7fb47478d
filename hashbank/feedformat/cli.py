"""Check feed documents saved with `curl -D headers.txt -o body.json`, from the command line.

`python -m hashbank.feedformat keys.json headers.txt body.json [prev_digest]` (the old name,
`python -m hashbank.fingerprints.verify`, still works). docs/feed.md has a worked example.
"""

from __future__ import annotations

import json

from hashbank.feedformat.canonical import CHECKPOINT_KIND, EVIDENCE_KIND, PAGE_KIND, SNAPSHOT_KIND
from hashbank.feedformat.verifier import (
    VerifyError,
    verify_checkpoint,
    verify_evidence,
    verify_page,
    verify_signature,
    verify_snapshot_manifest,
)


def _headers_from_file(text: str) -> dict[str, str]:
    headers = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def main(argv: list[str] | None = None) -> int:
    """`python -m hashbank.feedformat keys.json headers.txt body.json [prev_digest]`

    Checks the signature first, then the document: a page's own chain (and, given the digest
    your last page ended with, that it continues it), a checkpoint's expiry, or an evidence
    document's kind and fields."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4):
        print(main.__doc__)
        return 2
    with open(args[0], "rb") as f:
        keys = {k["kid"]: k["public_key"] for k in json.loads(f.read())["keys"]}
    with open(args[1], encoding="latin-1") as f:
        headers = _headers_from_file(f.read())
    with open(args[2], "rb") as f:
        body = f.read()
    kid, signature = headers.get("feed-key-id", ""), headers.get("feed-signature", "")
    try:
        verify_signature(body, kid, signature, keys)
        kind = json.loads(body).get("kind")
        if kind == PAGE_KIND:
            d = json.loads(body)
            prev = args[3] if len(args) == 4 else d["prev_digest"]
            page = verify_page(body, kid, signature, keys, cursor=d["cursor"], prev_digest=prev)
            print(f"OK page: {len(page.entries)} entries after {page.cursor}; next_cursor={page.next_cursor} "
                  f"digest={page.digest} more={page.more}")
        elif kind == CHECKPOINT_KIND:
            c = verify_checkpoint(body, kid, signature, keys)
            print(f"OK checkpoint v{c.version}: head {c.head_position} {c.head_digest}, expires {c.expires_at}")
        elif kind == SNAPSHOT_KIND:
            m = verify_snapshot_manifest(body, kid, signature, keys)
            print(f"OK snapshot at {m.position}: {m.count} entries, sha256 {m.sha256}, download {m.download}")
        elif kind == EVIDENCE_KIND:
            e = verify_evidence(body, kid, signature, keys)
            period, fetched, behind = e["period"], e["fetched"], e["behind"]
            print(f"OK evidence for {e['partner']} issued {e['issued_at']}, period {period['from']} to "
                  f"{period['to']}: checkpoint v{e['checkpoint'].get('version')} fetched "
                  f"{e['checkpoint'].get('fetched_at')}; at position {fetched.get('position')}, "
                  f"{behind.get('entries')} entries behind the head; {fetched.get('additions')} additions and "
                  f"{fetched.get('withdrawals')} withdrawals fetched; signed by {kid}")
        else:
            print(f"OK signature over a {kind} document")
    except VerifyError as error:
        print(f"REFUSED: {error}")
        return 1
    return 0
