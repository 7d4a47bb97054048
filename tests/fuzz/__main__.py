"""`python -m tests.fuzz`: see `tests/fuzz/driver.py`."""

import sys

from .driver import main

sys.exit(main())
