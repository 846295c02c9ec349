"""Allow ``python -m automation``."""

from automation.cli import main

raise SystemExit(main())
