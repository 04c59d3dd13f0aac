"""``python -m router_svc``."""

import sys

from .server import main

sys.exit(main())
