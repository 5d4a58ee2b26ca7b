"""``python -m stages.demoshop``: serve the demo shop until SIGTERM or SIGINT."""

from stages.demoshop.server import main

raise SystemExit(main())
