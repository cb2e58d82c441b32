"""`python -m perf`: see perf/run.py."""

import sys

from perf.run import main

sys.exit(main())
