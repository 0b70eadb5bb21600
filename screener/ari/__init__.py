"""A small typed client for the Asterisk REST Interface (ARI): REST calls and the event socket."""

from screener.ari.client import AriClient
from screener.ari.connection import AriConnection, ConnectionState
from screener.ari.errors import AriError

__all__ = ["AriClient", "AriConnection", "AriError", "ConnectionState"]
