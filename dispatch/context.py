"""What the dispatch loop needs besides the database: words, texts and settings, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo

from dispatch.channels import CHANNELS, ChannelAbilities
from dispatch.checkins.rules import CheckinRules
from dispatch.resident_replies import ReplyVocabulary
from dispatch.tasks.liaison_reading import CommandTable
from dispatch.texts import MessageCatalog


@dataclass(frozen=True)
class DispatchContext:
    """Texts, vocabularies and settings for intake, liaison replies and the ladder."""

    catalog: MessageCatalog
    replies: ReplyVocabulary
    commands: CommandTable
    staff_language: str  # HOTLINE_LANGUAGE: texts to liaisons and staff
    timezone: ZoneInfo
    fever_threshold: float
    urgent_accept_minutes: int = 10  # an urgent task not taken by then climbs the ladder
    normal_accept_minutes: int = 60
    # Never get near a reply loop (Twilio stops one at 30 replies in 30 s): automatic answers per number per hour.
    auto_replies_per_number_per_hour: int = 6
    # Answers to numbers not in the register, for the whole service, per hour: a guard against SMS pumping.
    unknown_replies_per_hour: int = 20
    region: str = "CN"  # HOTLINE_REGION: only mobiles of this region ever get a reply from an unregistered number
    duty_phone: str | None = None  # HOTLINE_DUTY_PHONE: for tasks whose community has no duty phone of its own
    done_by: time = time(20, 0)  # local time: a task taken but not done by then, that day, is flagged for staff
    checkin: CheckinRules = field(default_factory=CheckinRules)  # the daily check-in and its ladder
    calls: ChannelAbilities = CHANNELS["local"]  # the channel that places calls: "none" if there is none
    sms_gateway: str = "local"  # HOTLINE_GATEWAY: the gateway of SMS where a community chose none of its own
    sms_choices: frozenset[str] = frozenset({"local"})  # the gateways a community may choose for its SMS
    call_choices: frozenset[str] = frozenset({"none", "local"})  # … and for its calls
    medicine_lead_days: int = 3  # HOTLINE_MEDICINE_LEAD_DAYS: a medicine task this many days before it runs out

    def sms_for(self, choice: str | None) -> str:
        """The gateway of a community's SMS: its choice if the hotline is set up with it, else the hotline's."""
        return choice if choice is not None and choice in self.sms_choices else self.sms_gateway

    def calls_for(self, choice: str | None) -> ChannelAbilities:
        """The channel of a community's calls: its choice if the hotline is set up with it, else the hotline's."""
        return CHANNELS[choice] if choice in self.call_choices else self.calls
