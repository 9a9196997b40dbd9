"""``python -m valuation.engine score ...``: see ``valuation.engine.cli``."""

import sys

from valuation.engine.cli import main

sys.exit(main())
