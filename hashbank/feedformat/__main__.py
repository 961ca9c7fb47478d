"""`python -m hashbank.feedformat keys.json headers.txt body.json [prev_digest]`: see cli.py."""

from hashbank.feedformat.cli import main

raise SystemExit(main())
