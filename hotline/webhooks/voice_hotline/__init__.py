"""The 24-hour voice hotline, and the check-in calls it places. Signed like every webhook.

    /twilio/voice                   a call comes in: greet by name, say the caller's menu
    /twilio/voice/menu              a <Gather> result: a key, spoken words, or silence
    /twilio/voice/dial              a put-through ended: answered, or on to the next person, then voicemail
    /twilio/voice/recorded          a voicemail was left: an urgent call-back task
    /twilio/voice/status            the call ended: a resident who hung up before choosing gets a call-back task
    /twilio/voice/checkin           a check-in call was answered: a machine is hung up on, a person hears the menu
    /twilio/voice/checkin/status    a check-in call ended: busy, no answer or a machine is tried again later

    steps       VoiceHotline: each step of a call, inside one transaction: it reads the facts, lets
                `dispatch.ivr.decide` make the plan, stores it (`dispatch.ivr.plan_store`) and says it as TwiML
    endpoint    the Starlette endpoint around a step: the signature, and valid TwiML whatever fails
    group_commit  StepWriter: the steps of concurrent calls share one transaction (their rows flushed together) and
                one hand-over to Redis after the commit

Whatever fails inside, the caller hears valid TwiML: an apology and the duty phone. Needs are stored first and
queued after the commit, like an SMS; the worker turns them into tasks.
"""

from hotline.webhooks.voice_hotline.endpoint import voice_endpoint
from hotline.webhooks.voice_hotline.group_commit import Work
from hotline.webhooks.voice_hotline.steps import VoiceHotline

__all__ = ["VoiceHotline", "Work", "voice_endpoint"]
