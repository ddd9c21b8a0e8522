"""Reading Twilio's form (`form_pairs`): exactly what the standard library's `parse_qsl` reads, on every kind of
field, since Twilio's signature is checked over the fields as read."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl, urlencode

import pytest

from hotline.webhooks.twilio_sms import MAX_FIELDS, form_pairs
from tests.conftest import sms_params

ODD = [
    "",
    "&",
    "a=1&&b=2&",
    "flag&x=",
    "=value&name=",
    "a+b=c+d&e%2Bf=%2B8613800138000",
    "Body=%E6%83%B3%E4%B9%B0+%E7%82%B9%E8%8F%9C",
    "Body=%zz%4&x=%%",  # malformed escapes stay as they are
    "Body=%ff%fe%E6%83",  # not UTF-8: replaced, as parse_qsl does
    "a=1;b=2",  # ';' is no separator
    "a=b=c",
    "Body=想买点菜&From=+8613800138000",
]


@pytest.mark.parametrize("text", [*ODD, urlencode(sms_params("我要买药，还有米 & 油 = 100%"))])
def test_fields_are_read_as_parse_qsl_reads_them(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)


def test_random_forms_are_read_as_parse_qsl_reads_them() -> None:
    pick = random.Random(25)  # reproducible
    alphabet = "ab+%&=2BEF0x想 "
    for _ in range(5000):
        text = "".join(pick.choice(alphabet) for _ in range(pick.randrange(30)))
        assert form_pairs(text) == parse_qsl(text, keep_blank_values=True), text


def test_too_many_fields_are_refused_as_parse_qsl_refuses_them() -> None:
    most = "&".join(["a=1"] * MAX_FIELDS)
    assert len(form_pairs(most)) == MAX_FIELDS
    with pytest.raises(ValueError, match="Max number of fields exceeded"):
        form_pairs(most + "&a=1")
    with pytest.raises(ValueError, match="Max number of fields exceeded"):
        parse_qsl(most + "&a=1", max_num_fields=MAX_FIELDS)
