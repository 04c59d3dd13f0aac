"""``python -m metrics_svc``: run the metrics service."""

import sys

from metrics_svc.server import main

sys.exit(main())
