"""The web console: the service's functions in a browser, served by ``oqtant serve`` at ``/``.

Server-rendered pages (Jinja2, autoescaped), plots drawn by matplotlib on the
server, a little vanilla JavaScript shipped in the package. Include
:data:`web_router` in the app.
"""

from oqtant.server.web.routes import router as web_router

__all__ = ["web_router"]
