"""`python -m quilt.cli ...`: the same as the `quilt` command."""

import sys

from quilt.cli.main import main

sys.exit(main())
