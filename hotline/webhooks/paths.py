"""The paths Twilio (and the Android phones) call us on: the router serves them, and the callback URLs handed to
Twilio are built from them (with `Settings.callback_url`). One place, so a callback can never name a path no route
serves."""

from __future__ import annotations

SMS = "/twilio/sms"  # an inbound SMS
STATUS = "/twilio/status"  # a delivery report on one of our SMS
VOICE = "/twilio/voice"  # a call comes in to the hotline
VOICE_MENU = "/twilio/voice/menu"  # a <Gather> result
VOICE_DIAL = "/twilio/voice/dial"  # a put-through ended
VOICE_RECORDED = "/twilio/voice/recorded"  # a voicemail was left
VOICE_STATUS = "/twilio/voice/status"  # a call to the hotline ended
VOICE_MESSAGE = "/twilio/voice/message"  # what an automated call from us says
VOICE_CHECKIN = "/twilio/voice/checkin"  # a check-in call was answered
VOICE_CHECKIN_STATUS = "/twilio/voice/checkin/status"  # a check-in call ended
VOICE_GREETING_RECORDED = "/twilio/voice/greeting/recorded"  # a liaison recorded their check-in greeting
VOICE_GREETING_CHOICE = "/twilio/voice/greeting/choice"  # keep it, record again, or keep the old one
ANDROID_EVENTS = "/android/events"  # every webhook of SMS Gateway for Android, ?phone=<its name in ANDROID_PHONES>
HTTPSMS_EVENTS = "/httpsms/events"  # httpSMS's webhooks (a community's own SIM): its missed calls are rings


def android_events_path(phone: str) -> str:
    """Where the phone `phone` posts its webhooks (registered on the phone, one per event)."""
    return f"{ANDROID_EVENTS}?phone={phone}"


def _for_outbound(path: str, outbound_id: int) -> str:
    """The path with our outbound row's id: a report or a fetch can never miss its row."""
    return f"{path}?o={outbound_id}"


def status_callback_path(outbound_id: int) -> str:
    """Where Twilio reports on one SMS."""
    return _for_outbound(STATUS, outbound_id)


def message_call_path(outbound_id: int) -> str:
    """Where an automated call fetches what it says."""
    return _for_outbound(VOICE_MESSAGE, outbound_id)


def checkin_call_path(outbound_id: int) -> str:
    """Where a check-in call fetches its voice menu."""
    return _for_outbound(VOICE_CHECKIN, outbound_id)


def checkin_status_path(outbound_id: int) -> str:
    """Where Twilio reports how a check-in call ended."""
    return _for_outbound(VOICE_CHECKIN_STATUS, outbound_id)


class Tencent:
    """The paths Tencent Cloud SMS calls us on (set in its console), each with `?s=` and TENCENT_CALLBACK_SECRET:
    Tencent signs no callback, so the secret the URL carries is what tells its calls from anyone's."""

    REPLY = "/tencent/sms/reply"  # a resident's SMS (短信回复)
    STATUS = "/tencent/sms/status"  # delivery reports on our SMS (短信下发状态), keyed by SerialNo
    VOICE = "/tencent/voice/callback"  # the check-in call's key, end and failure reason (语音通知), keyed by callid
