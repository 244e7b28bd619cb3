"""``python -m desktop_app``."""

import sys

from desktop_app.launcher import main

sys.exit(main())
