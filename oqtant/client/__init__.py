"""The client of an oqtant server: transport, REST calls, display, login, job files.

Public names: :class:`OqtantClient`, :func:`get_client`, :func:`get_oqtant_client`,
:func:`current_client`. The code lives in private modules (``_transport``,
``_client``, ``_matter_calls``, ``_display``, ``_session``) and in ``login`` and
``jobfiles``. Importing this package registers the client layer with
``oqtant.matter``, so a QuantumMatter submits through the current client.
"""

from oqtant.client._client import OqtantClient
from oqtant.client._session import LAYER, current_client, get_client, get_oqtant_client
from oqtant.matter._services import register_client_layer

__all__ = ["OqtantClient", "current_client", "get_client", "get_oqtant_client"]

register_client_layer(LAYER)
