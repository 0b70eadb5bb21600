"""The one exception type ARI failures are translated into."""

from __future__ import annotations

STATUS_UNREACHABLE = 0
"""``AriError.status`` when no HTTP answer came back (refused, timed out, socket closed)."""


class AriError(Exception):
    """An ARI request failed. ``status`` is the HTTP status, or 0 when Asterisk did not answer.

    A 404 on a channel after ``StasisEnd`` is normal (the channel left the app); a 500 from
    the variable endpoint means the function or header is absent.
    """

    def __init__(self, method: str, path: str, status: int, message: str = "") -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        super().__init__(f"{method} {path}: {status or 'no answer'} {message}".rstrip())

    @property
    def channel_gone(self) -> bool:
        """The channel is no longer ours (hung up or left the application)."""
        return self.status == 404

    @property
    def unreachable(self) -> bool:
        return self.status == STATUS_UNREACHABLE
