"""``python -m skfeatsparse``: the same as the ``skfeatsparse`` command."""

import sys

from ._cli import main

sys.exit(main())
