"""``python -m initlab`` runs the command line."""

import sys

from initlab._cli import main

sys.exit(main())
