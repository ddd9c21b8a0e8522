"""The inbound webhook signature check: `X-Twilio-Signature`, checked against our public URL."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class TwilioSignatureCheck:
    """Checks `X-Twilio-Signature` with twilio's own `RequestValidator`, against our public URL."""

    def __init__(self, auth_token: str, public_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def url_for(self, path: str, query: str = "") -> str:
        """The URL Twilio signed: our public base URL, the path, and the query string if any."""
        return self._public_url + path + (f"?{query}" if query else "")

    def is_valid(self, path: str, query: str, params: Mapping[str, Sequence[str]], signature: str | None) -> bool:
        """True if `signature` was made with our token for this URL and these form parameters."""
        if not signature:
            return False
        url, multi = self.url_for(path, query), _MultiParams(params)
        # Twilio signs the URL it was given, which is ours exactly as configured: check that one first, once.
        # `validate` then covers the other forms Twilio may have signed (with or without the default port).
        if hmac.compare_digest(self._validator.compute_signature(url, multi).encode(), signature.encode()):
            return True
        return bool(self._validator.validate(url, multi, signature))

    def sign(self, path: str, params: Mapping[str, str], query: str = "") -> str:
        """Sign a request the way Twilio does: for the local simulator, the CLI and tests."""
        return str(self._validator.compute_signature(self.url_for(path, query), params))


class _MultiParams(dict[str, Sequence[str]]):
    """Form parameters with repeated keys, in the shape RequestValidator reads (like Flask's MultiDict)."""

    def getall(self, key: str) -> Sequence[str]:
        return self[key]
