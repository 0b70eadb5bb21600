"""The reception and admin web console and the JSON API."""

from screener.web.app import create_app
from screener.web.server import serve_web

__all__ = ["create_app", "serve_web"]
