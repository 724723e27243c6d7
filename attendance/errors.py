"""The one exception type services raise; views, the API and commands turn it into a message."""

from __future__ import annotations


class ApplicationError(Exception):
    """A request the app understood but cannot carry out, with a message for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
