"""Twilio's signature as `TwilioSignatureCheck` computes it: exactly twilio's own `RequestValidator`, on every kind
of form, and the other URL forms Twilio may sign still taken."""

from __future__ import annotations

import random

from twilio.request_validator import RequestValidator

from hotline.webhooks.signatures import TwilioSignatureCheck
from tests.conftest import sms_params

TOKEN = "an-auth-token-0123456789abcdef"
PUBLIC_URL = "https://hotline.example.org"


class MultiDict(dict[str, list[str]]):
    def getall(self, key: str) -> list[str]:
        return self[key]


def test_the_signature_is_twilios_own_on_any_form() -> None:
    check, twilio = TwilioSignatureCheck(TOKEN, PUBLIC_URL), RequestValidator(TOKEN)
    pick = random.Random(25)  # reproducible
    names = ["Body", "From", "To", "MessageSid", "a", "A", "b", "名", ""]
    values = ["", "x", "想买点菜", "+8613800138000", "a b&c=d%", "Z", "z"]
    forms = [{name: [value] for name, value in sms_params("想买点菜").items()}]
    for _ in range(2000):
        form: dict[str, list[str]] = {}
        for _ in range(pick.randrange(6)):  # repeated names, repeated and unsorted values
            form.setdefault(pick.choice(names), []).append(pick.choice(values))
        forms.append(form)
    for form in forms:
        for url in (f"{PUBLIC_URL}/twilio/sms", f"{PUBLIC_URL}/twilio/status?o=12"):
            assert check.signature_of(url, form) == twilio.compute_signature(url, MultiDict(form)), form


def test_a_signature_is_checked_for_our_url_and_the_forms_twilio_may_sign() -> None:
    check, twilio = TwilioSignatureCheck(TOKEN, PUBLIC_URL), RequestValidator(TOKEN)
    form = sms_params()
    params = {name: [value] for name, value in form.items()}
    ours = twilio.compute_signature(f"{PUBLIC_URL}/twilio/sms", form)
    with_port = twilio.compute_signature("https://hotline.example.org:443/twilio/sms", form)
    assert check.is_valid("/twilio/sms", "", params, ours)
    assert check.is_valid("/twilio/sms", "", params, with_port)  # RequestValidator's other URL forms
    assert not check.is_valid("/twilio/sms", "", {**params, "Body": ["改过的"]}, ours)
    assert not check.is_valid("/twilio/status", "", params, ours)
    assert not check.is_valid(
        "/twilio/sms", "", params, RequestValidator("another").compute_signature(f"{PUBLIC_URL}/twilio/sms", form)
    )
    assert not check.is_valid("/twilio/sms", "", params, None)
