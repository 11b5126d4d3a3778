"""`python -m tui` runs the portal-backup command."""

import sys

from .cli import main

sys.exit(main())
