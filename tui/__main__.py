"""`python -m tui` runs the portal-backup command."""

import sys

from tui.cli.main import main

sys.exit(main())
