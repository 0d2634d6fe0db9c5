"""``python -m tests.web.serve_console PORT``: the service with its web console, for browser tests.

The app comes from the service's own factory (settings from ``OQTANT_*``); the
console's router is included only if the factory does not include it already.
"""

from __future__ import annotations

import sys

import uvicorn

from oqtant.server import create_app
from oqtant.settings import Settings
from tests.web.conftest import with_console


def main(argv: list[str]) -> None:
    settings = Settings()
    app = with_console(create_app(settings))
    uvicorn.run(app, host="127.0.0.1", port=int(argv[0]), log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
