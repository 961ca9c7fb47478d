#!/usr/bin/env python3
"""Check one uploaded image against Image Shield's hosted lookup: one HTTP call per upload.

    IMAGESHIELD_LOOKUP_KEY=isk_... python3 forum_lookup.py upload.jpg   # exit 0 no match, 1 match, 2 try later
    python3 forum_lookup.py --hashes-only upload.jpg                   # print the request body, send nothing

The image is hashed here, on your own server; only its hashes are sent. Needs
`pip install pdqhash pillow requests`.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import pdqhash
import requests
from PIL import Image

API = os.environ.get("IMAGESHIELD_LOOKUP_URL", "https://shield.example.org/api/v1/lookup")


def lookup_request(path: str) -> dict:
    """The upload's PDQ hashes (as uploaded, turned and mirrored: 8) with their quality, and the
    MD5 and SHA-256 of its bytes."""
    with open(path, "rb") as f:
        data = f.read()
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    variants, quality = pdqhash.compute_dihedral(pixels)
    hashes = [{"signal_type": "pdq", "value": f"{int(''.join(str(int(b)) for b in bits), 2):064x}",
               "quality": int(quality)} for bits in variants]
    hashes.append({"signal_type": "md5", "value": hashlib.md5(data, usedforsecurity=False).hexdigest()})
    hashes.append({"signal_type": "sha256", "value": hashlib.sha256(data).hexdigest()})
    return {"hashes": hashes}


def check(path: str, key: str) -> list:
    """The fingerprints the upload matches, nearest first (empty: none). Raises on 429 and 503
    (and any other error): check again later."""
    response = requests.post(API, json=lookup_request(path), headers={"Authorization": f"Bearer {key}"},
                             timeout=10)
    response.raise_for_status()
    found = {}
    for result in response.json()["results"]:
        for match in result["matches"]:  # one fingerprint may match several of the 8 variants
            if match["id"] not in found or match["distance"] < found[match["id"]]["distance"]:
                found[match["id"]] = match
    return sorted(found.values(), key=lambda match: match["distance"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--hashes-only", action="store_true")
    args = parser.parse_args()
    if args.hashes_only:
        print(json.dumps(lookup_request(args.path)))
        return 0
    try:
        matches = check(args.path, os.environ["IMAGESHIELD_LOOKUP_KEY"])
    except requests.RequestException as error:
        print(f"not checked, try again later: {error}", file=sys.stderr)
        return 2
    for match in matches:
        print(f"match {match['id']} {match['signal_type']} distance {match['distance']} origin {match['origin']}")
    return 1 if matches else 0


if __name__ == "__main__":
    sys.exit(main())
