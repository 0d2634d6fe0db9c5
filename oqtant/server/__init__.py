"""The job service: REST API, accounts, quotas, queue and dispatch (``oqtant serve``)."""

from oqtant.server.app import create_app, prepare_database
from oqtant.server.queue.dispatcher import Dispatcher

__all__ = ["Dispatcher", "create_app", "prepare_database"]
