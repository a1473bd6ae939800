"""``python -m benchmarks.overhead``: see :mod:`benchmarks.overhead`."""

import sys

from benchmarks.overhead.cli import main

sys.exit(main())
