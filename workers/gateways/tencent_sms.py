"""Tencent Cloud SMS's gateway: SendSms (API 2021-01-11) through the official SDK, with approved templates only.

This channel sends SMS and nothing else: it places no calls (a refused check-in call moves the ladder on to its
next rung) and holds no recordings. Its inbound side is in hotline.webhooks.tencent_sms.
"""

from __future__ import annotations

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.sms.v20210111 import models, sms_client

from dispatch.sms_templates import TemplateTable
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayError,
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
)
from workers.gateways.recordings import RecordingMedia
from workers.gateways.tencent_sdk import client_parts, network_error

# Throttled or a passing fault at Tencent: certainly not sent, so it is tried again later.
_TEMPORARY_PREFIXES = ("LimitExceeded.", "RequestLimitExceeded")
_TEMPORARY = {"InternalError.Timeout", "RequestLimitExceeded"}
# This number takes no more SMS from us today (its daily limits, set in Tencent's console): trying again all day
# would hold the ladder back, so it is refused now, and a task offer climbs to the next person at once.
_REFUSED_TODAY = {"LimitExceeded.PhoneNumberDailyLimit", "LimitExceeded.PhoneNumberSameContentDailyLimit"}


class TencentSmsGateway:
    """Sends each SMS as the approved template that renders it (see `dispatch.sms_templates`)."""

    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        app_id: str,
        sign_name: str,
        region: str,
        endpoint: str,
        templates: TemplateTable,
        timeout: int = 10,
    ) -> None:
        key, profile = client_parts(secret_id, secret_key, endpoint, timeout)
        self._client = sms_client.SmsClient(key, region, profile)
        self._app_id, self._sign_name, self._templates = app_id, sign_name, templates

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Send `body` as the template that renders it; returns Tencent's SerialNo, which its status reports
        carry as `sid`. `status_callback` is unused: Tencent reports to the URL set in its console."""
        found = self._templates.match(body)
        if found is None:
            raise GatewayRejectedError("tencent: no approved template renders this text")
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [to]
        request.SmsSdkAppId = self._app_id
        request.SignName = self._sign_name
        request.TemplateId = found.template.id
        request.TemplateParamSet = found.values
        request.SessionContext = str(outbound_id) if outbound_id is not None else None
        try:
            answer = self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise _translated(exc) from None
        statuses = answer.SendStatusSet
        if not statuses:  # an answer without a result for our number: it may have gone
            raise GatewayAmbiguousError(f"tencent answered without SendStatusSet (request {answer.RequestId})")
        status = statuses[0]
        if status.Code == "Ok" and status.SerialNo:
            return str(status.SerialNo)
        raise _by_code(str(status.Code), f"tencent refused the number: {status.Code}")

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        """This channel places no calls: refused, so a check-in's ladder moves on to its next rung."""
        raise GatewayRejectedError("tencent SMS places no calls")

    def open_recording(self, recording_url: str) -> RecordingMedia:
        """This channel records no voicemails."""
        raise RecordingMissingError("tencent SMS holds no recordings")


def _by_code(code: str, detail: str) -> GatewayError:
    """A Tencent error code as what to do next: throttled → later; a number's daily limit, or anything else →
    refused for good."""
    if code in _REFUSED_TODAY:
        return GatewayRejectedError(detail)
    if code in _TEMPORARY or code.startswith(_TEMPORARY_PREFIXES):
        return GatewayTemporaryError(detail)
    return GatewayRejectedError(detail)


def _translated(exc: TencentCloudSDKException) -> GatewayError:
    """The SDK's exception as a gateway error. Its message may hold the answer's body: it is not repeated."""
    code = str(exc.code)
    return network_error(exc, "the SMS may have gone") or _by_code(code, f"tencent refused the request: {code}")
