"""``python -m initlab.bench``: see :mod:`initlab.bench`."""

from initlab.bench import main

raise SystemExit(main())
