"""What Tencent Cloud's SMS and voice-message gateways share: the SDK's client profile, and its network errors
read as what the outbox does next.

The SDK can log its requests (numbers, texts, names) at DEBUG: importing this module keeps them out of our logs.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from requests.exceptions import ConnectTimeout
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from workers.exceptions import GatewayAmbiguousError, GatewayError, GatewayTemporaryError

logging.getLogger("tencentcloud_sdk_common").setLevel(logging.WARNING)


def client_parts(
    secret_id: str, secret_key: str, endpoint: str, timeout: int
) -> tuple[credential.Credential, ClientProfile]:
    """The credential and profile an SDK client is made with: `endpoint` a host (https) or a URL with no path.

    The SDK's default retryer is its no-op one, and stays so: a request retried after a read timeout could send
    an SMS or ring a phone twice, and Tencent has no idempotency key. The outbox retries what certainly failed.
    """
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    profile = HttpProfile(protocol=parts.scheme, endpoint=parts.netloc, reqTimeout=timeout)
    return credential.Credential(secret_id, secret_key), ClientProfile(httpProfile=profile)


def network_error(exc: TencentCloudSDKException, what_may_have_happened: str) -> GatewayError | None:
    """The SDK's network errors as a gateway error; None for Tencent's own error codes (each gateway reads
    those). Its message may hold the answer's body: it is not repeated."""
    code = str(exc.code)
    if code == "ServerNetworkError":  # an HTTP status other than 200: Tencent's front did not take it
        return GatewayTemporaryError("tencent answered an HTTP error")
    if code == "ClientNetworkError":
        if never_left(exc):
            return GatewayTemporaryError("cannot reach tencent")
        return GatewayAmbiguousError(f"no answer from tencent ({what_may_have_happened})")
    return None


def never_left(exc: BaseException) -> bool:
    """True if the request failed before a connection was made, so Tencent cannot have seen it."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:  # the SDK raises inside its `except`, so the requests error is the context
        item = pending.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectTimeoutError | ConnectTimeout):
            return True
        pending.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    # Without the chain, the SDK's message still names requests' error.
    message = str(getattr(exc, "message", "")) or str(exc)
    return "NewConnectionError" in message or "Failed to resolve" in message or "ConnectTimeout" in message
