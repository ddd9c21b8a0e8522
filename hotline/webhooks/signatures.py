"""The inbound webhook signature check: `X-Twilio-Signature`, checked against our public URL."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class TwilioSignatureCheck:
    """Checks `X-Twilio-Signature` with twilio's own `RequestValidator`, against our public URL."""

    def __init__(self, auth_token: str, public_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._token = auth_token.encode()
        self._public_url = public_url.rstrip("/")

    def url_for(self, path: str, query: str = "") -> str:
        """The URL Twilio signed: our public base URL, the path, and the query string if any."""
        return self._public_url + path + (f"?{query}" if query else "")

    def is_valid(self, path: str, query: str, params: Mapping[str, Sequence[str]], signature: str | None) -> bool:
        """True if `signature` was made with our token for this URL and these form parameters."""
        if not signature:
            return False
        url = self.url_for(path, query)
        # Twilio signs the URL it was given, which is ours exactly as configured: check that one first, once.
        # `validate` then covers the other forms Twilio may have signed (with or without the default port).
        if hmac.compare_digest(self.signature_of(url, params).encode(), signature.encode()):
            return True
        return bool(self._validator.validate(url, _MultiParams(params), signature))

    def signature_of(self, url: str, params: Mapping[str, Sequence[str]]) -> str:
        """Twilio's signature of a request, by RequestValidator's algorithm (`compute_signature`, HMAC-SHA1), in
        half its time: the URL, then each parameter's name and value, names sorted and each name's distinct values
        sorted, keyed with our token; base64."""
        signed = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
        return base64.b64encode(hmac.digest(self._token, signed.encode(), "sha1")).decode()  # one-shot: no HMAC object

    def sign(self, path: str, params: Mapping[str, str], query: str = "") -> str:
        """Sign a request the way Twilio does: for the local simulator, the CLI and tests."""
        return str(self._validator.compute_signature(self.url_for(path, query), params))


class _MultiParams(dict[str, Sequence[str]]):
    """Form parameters with repeated keys, in the shape RequestValidator reads (like Flask's MultiDict)."""

    def getall(self, key: str) -> Sequence[str]:
        return self[key]
