"""`python -m quilt.testing.field_lectures`: see the package docstring."""

from quilt.testing.field_lectures.lecture import main

raise SystemExit(main())
