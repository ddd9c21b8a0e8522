"""Errors from gateways, sorted by what the caller must do next."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: the gateway did not accept a message or call."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class GatewayTemporaryError(GatewayError):
    """Not accepted, and certainly not sent (rate limit, outage, no connection): try again later."""


class GatewayRejectedError(GatewayError):
    """Refused for good (bad number, blocked, bad credentials): retrying will not help."""


class GatewayAmbiguousError(GatewayError):
    """The request may or may not have been accepted (a timeout after sending). Never resend blindly."""


class RecordingRefusedError(GatewayError):
    """A recording URL not under our own account at the provider's API: never fetched (it could aim anywhere)."""


class RecordingMissingError(GatewayError):
    """The provider has no such recording (deleted, or never made): it will not come back."""
