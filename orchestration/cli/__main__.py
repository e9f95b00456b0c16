"""`python -m orchestration.cli`: the same as the `orchestrate` console script."""

import sys

from orchestration.cli import main

sys.exit(main())
