"""``python -m initlab.bench``: see :mod:`initlab.bench._cli`."""

from initlab.bench._cli import main

raise SystemExit(main())
