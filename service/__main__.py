"""`python -m service` runs the newsdrop CLI."""

from service.cli import main

raise SystemExit(main())
