"""Notices (防控信息), the domain: the preview counts people, segments and time exactly; calls never ring in quiet
hours; sending decides one copy per phone and channel."""

from __future__ import annotations

import pytest
from sqlalchemy import select, true

from dispatch import notices
from dispatch.models import AuditEntry, Notice, StaffUser
from dispatch.staff_accounts import household_scope
from hotline.services import Services
from tests.conftest import at
from tests.console_helpers import make_user
from tests.outreach_helpers import BODY, HOME, P, make_two_communities, outbound


@pytest.fixture
def two_communities(services: Services) -> dict[str, int]:
    return make_two_communities(services)


def test_the_preview_counts_people_segments_and_time_exactly(
    services: Services, two_communities: dict[str, int]
) -> None:
    with services.readonly() as session:
        found = notices.preview(
            session,
            true(),
            target_kind="community",
            target=HOME,
            channels="sms",
            body=BODY,
            sms_per_second=0.5,
            calls_per_second=0.25,
            now=at("10:00"),
        )
    # 梁阿姨 and 梁伯 share one SMS; 王大爷 one; 孙爷爷 (landline) and 陈伯 (voice) are called instead.
    assert (found.residents, found.sms, found.calls) == (5, 2, 2)
    assert found.skipped == {"moved_away": 1, "opted_out": 1, "paused": 1}
    assert len(BODY) == 120 and (found.encoding, found.characters, found.segments) == ("UCS-2", 120, 2)
    assert (found.sms_seconds, found.call_seconds, found.seconds) == (4.0, 8.0, 12.0)
    assert found.problems == ()
    as_json = found.as_dict()
    assert as_json["sms_segments"] == 4 and as_json["ok"] and not as_json["sms_unlimited"]

    with services.readonly() as session:
        both = notices.preview(
            session,
            true(),
            target_kind="grid",
            target=f"{HOME}/第1网格",
            channels="both",
            body="Test",
            sms_per_second=0,
            calls_per_second=0,
            now=at("10:00"),
        )
    assert (both.residents, both.sms, both.calls, both.encoding, both.segments) == (3, 1, 2, "GSM-7", 1)
    assert both.seconds == 0 and both.as_dict()["sms_unlimited"] and both.as_dict()["calls_unlimited"]

    with services.readonly() as session:
        bad = notices.preview(
            session,
            true(),
            target_kind="category",
            target="elderly_alone",
            channels="call",
            body="x" * 301,
            sms_per_second=0,
            calls_per_second=0.01,
            now=at("20:00"),
        )
    # Everyone old and alone in both communities, by call (4 calls at 0.01/s end at 20:06:40, before quiet hours):
    # refused for the length only.
    assert (bad.residents, bad.calls) == (5, 4)
    assert [p.code for p in bad.problems] == ["body_too_long"] and bad.problems[0].fields == {
        "length": 301,
        "limit": 300,
    }


def test_calls_never_ring_in_quiet_hours(services: Services, two_communities: dict[str, int]) -> None:
    where = true()
    with services.readonly() as session:
        late = notices.preview(
            session,
            where,
            target_kind="community",
            target=HOME,
            channels="both",
            body="明早检测",
            sms_per_second=0,
            calls_per_second=0,
            now=at("22:30"),
        )
        running_late = notices.preview(
            session,
            where,
            target_kind="community",
            target=HOME,
            channels="call",
            body="明早检测",
            sms_per_second=0,
            calls_per_second=0.001,
            now=at("20:30"),
        )  # 4 calls take 67 minutes: past 21:00
        by_sms = notices.preview(
            session,
            where,
            target_kind="community",
            target=HOME,
            channels="sms",
            body="明早检测",
            sms_per_second=0,
            calls_per_second=0,
            now=at("22:30"),
        )
    assert [p.code for p in late.problems] == ["quiet_hours"]
    assert [p.code for p in running_late.problems] == ["quiet_hours"]
    # By SMS at night: the SMS readers get it; the two who can only be called are left for the morning, and told.
    assert (by_sms.problems, by_sms.sms, by_sms.calls, by_sms.residents) == ((), 2, 0, 3)
    assert by_sms.skipped["quiet_hours"] == 2


def test_sending_decides_one_copy_per_phone_and_channel(services: Services, two_communities: dict[str, int]) -> None:
    make_user(services)
    with services.sessions.begin() as session:
        admin = session.scalars(select(StaffUser)).one()
        notice, ids = notices.send_notice(
            session,
            actor=admin,
            where=household_scope(admin),
            target_kind="community",
            target=HOME,
            channels="both",
            body=f"  {BODY}  ",
            now=at("10:00"),
        )
    rows = outbound(services)
    assert [r.id for r in rows] == ids and {r.notice_id for r in rows} == {notice.id}
    keys = [r.dedupe_key for r in rows]
    assert keys == [
        f"notice:{notice.id}:sms:{P['梁阿姨']}",
        f"notice:{notice.id}:sms:{P['王大爷']}",
        f"notice:{notice.id}:call:{P['梁阿姨']}",
        f"notice:{notice.id}:call:{P['孙爷爷']}",
        f"notice:{notice.id}:call:{P['王大爷']}",
        f"notice:{notice.id}:call:{P['陈伯']}",
    ]
    assert [r.kind for r in rows] == ["sms", "sms", "call", "call", "call", "call"]
    assert all(r.body == BODY for r in rows)  # trimmed
    assert P["周阿姨"] not in {r.to_phone for r in rows} and P["何奶奶"] not in {r.to_phone for r in rows}
    with services.readonly() as session:
        stored = session.get_one(Notice, notice.id)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.object_kind == "notice")).one()
    assert (stored.recipients, stored.community_id is not None, stored.created_by) == (6, True, "staff:1")
    assert (entry.action, entry.object_id) == ("send", notice.id)
    assert "+86" not in entry.detail and "13900" not in entry.detail and "residents 5, sms 2, calls 4" in entry.detail
