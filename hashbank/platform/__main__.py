"""``python -m hashbank.platform``: see :mod:`hashbank.platform.cli`."""

from hashbank.platform.cli import main

raise SystemExit(main())
