"""Tencent Cloud voice messages' gateway (HOTLINE_CALL_GATEWAY=tencent): the check-in call as SendTtsVoice (API
2020-09-02) through the official SDK, an approved text-to-speech template with the resident's name.

Tencent reads the template aloud; the key pressed and how the call ended come back by callback, to the URL set in
its console (hotline.webhooks.tencent_voice), each carrying the CallId returned here. It says nothing but approved
templates: an automated call with a text of its own (an alert) cannot go this way, and goes as an SMS instead.
"""

from __future__ import annotations

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.vms.v20200902 import models, vms_client

from dispatch.voice_templates import CheckinVoiceTemplate
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayError,
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
)
from workers.gateways.recordings import RecordingMedia
from workers.gateways.tencent_sdk import client_parts, network_error

# Throttled, or a passing fault before the call was placed: certainly not placed, so it is tried again later.
_TEMPORARY_PREFIXES = ("RequestLimitExceeded",)
_TEMPORARY = {"InternalError.UpstreamError", "InternalError.SsoSendRecvFail", "InternalError.RestApiInterfaceNotExist"}
# Tencent gave up waiting for the carrier: the call may have been placed. Never placed again.
_MAYBE_PLACED = {
    "InternalError.AccessUpstreamTimeout",
    "FailedOperation.AccessUpstreamTimeout",
    "InternalError.RequestTimeException",
}
# Everything else is refused for good: no balance left in the voice package, arrears, no caller number bought, a
# number Tencent will not call, a template not approved, the number called too often. The ladder moves on.


class TencentVoiceGateway:
    """Places the check-in call as the approved template, with the resident's name."""

    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        app_id: str,
        region: str,
        endpoint: str,
        template: CheckinVoiceTemplate,
        play_times: int = 2,
        timeout: int = 10,
    ) -> None:
        key, profile = client_parts(secret_id, secret_key, endpoint, timeout)
        self._client = vms_client.VmsClient(key, region, profile)
        self._app_id, self._template, self._play_times = app_id, template, play_times

    def place_checkin_call(self, to: str, *, name: str, outbound_id: int) -> str:
        """Place the check-in call to `to`, greeting `name`. Returns Tencent's CallId, which its callbacks carry
        as `callid`."""
        request = models.SendTtsVoiceRequest()
        request.TemplateId = self._template.id
        request.CalledNumber = to
        request.VoiceSdkAppid = self._app_id
        request.TemplateParamSet = self._template.params(name)
        request.PlayTimes = self._play_times
        request.SessionContext = str(outbound_id)
        try:
            answer = self._client.SendTtsVoice(request)
        except TencentCloudSDKException as exc:
            raise _translated(exc) from None
        status = answer.SendStatus
        if status is None or not status.CallId:  # an answer without a CallId: the call may have been placed
            raise GatewayAmbiguousError(f"tencent answered without a CallId (request {answer.RequestId})")
        return str(status.CallId)

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
        """Voice messages carry no SMS."""
        raise GatewayRejectedError("tencent voice messages send no SMS")

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        """A call that says a text of its own: Tencent says only approved templates, so it is refused."""
        raise GatewayRejectedError("tencent voice messages say only approved templates")

    def open_recording(self, recording_url: str) -> RecordingMedia:
        """This channel records no voicemails."""
        raise RecordingMissingError("tencent voice messages hold no recordings")


def _translated(exc: TencentCloudSDKException) -> GatewayError:
    """The SDK's exception as a gateway error. Its message may hold the answer's body: it is not repeated."""
    code = str(exc.code)
    network = network_error(exc, "the call may have been placed")
    if network is not None:
        return network
    detail = f"tencent refused the call: {code}"
    if code in _TEMPORARY or code.startswith(_TEMPORARY_PREFIXES):
        return GatewayTemporaryError(detail)
    if code in _MAYBE_PLACED:
        return GatewayAmbiguousError(f"{detail} (the call may have been placed)")
    return GatewayRejectedError(detail)
