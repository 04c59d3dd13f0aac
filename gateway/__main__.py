"""``python -m gateway``: run the HTTP gateway."""

from gateway.app import main

raise SystemExit(main())
