"""What the report tests share: one day of two communities, built through the register and the check-in and task models
at known times."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from dispatch import register
from dispatch.models import Checkin, CheckinStatus, Resident, Task, TaskCategory, TaskEvent, TaskPriority, TaskStatus
from hotline.services import Services
from tests.conftest import DAY, LIAISON_PHONE, at

HOME, PEACE = "幸福里社区", "和平社区"


# name: (community, grid, building, phone)
PEOPLE = {
    "梁阿姨": (HOME, "第1网格", "1号楼", "+8613900000001"),
    "王大爷": (HOME, "第1网格", "1号楼", "+8613900000002"),
    "刘奶奶": (HOME, "第1网格", "1号楼", "+8613900000003"),
    "赵姐": (HOME, "第2网格", "9号楼", "+8613900000004"),
    "吴叔": (HOME, "第2网格", "9号楼", "+8613900000005"),
    "孙爷爷": (PEACE, "东区", "2号楼", "+8613900000006"),
}


def _checkin(session: Session, resident: Resident, hhmm: str, status: CheckinStatus, day: date = DAY) -> Checkin:
    checkin = Checkin(
        resident_id=resident.id,
        household_id=resident.household_id,
        local_date=day,
        slot=hhmm,
        channel="sms",
        due_at=at(hhmm, day),
        status=status,
        sent_at=at(hhmm, day),
    )
    session.add(checkin)
    return checkin


def _task(
    session: Session,
    resident: Resident,
    category: TaskCategory,
    created: datetime,
    accepted: datetime | None = None,
    done: datetime | None = None,
    escalated: tuple[datetime, ...] = (),
) -> Task:
    """A task with the events the domain writes: created, escalated (a rung each), accepted, done."""
    status = TaskStatus.DONE if done else TaskStatus.ACCEPTED if accepted else TaskStatus.OFFERED
    task = Task(
        household_id=resident.household_id,
        resident_id=resident.id,
        category=category,
        status=status,
        priority=TaskPriority.NORMAL,
        created_at=created,
        accepted_at=accepted,
    )
    session.add(task)
    session.flush()
    events = [("created", created), *(("escalated", moment) for moment in escalated)]
    events += [("accepted", accepted)] if accepted else []
    events += [("done", done)] if done else []
    for kind, moment in events:
        session.add(TaskEvent(task_id=task.id, kind=kind, actor="system", channel="sms", at=moment))
    return task


def make_day_of_data(services: Services) -> dict[str, int]:
    """Two communities on DAY (2030-03-04, Asia/Shanghai): 幸福里 with grids 1 and 2, 和平 with one grid.

    Check-ins at 09:00: 梁阿姨 fine (and fine again at 15:00), 王大爷 needs, 刘奶奶 unwell, 赵姐 no answer and a
    visit task waiting, 吴叔 no answer, 孙爷爷 fine. The day before: 孙爷爷 fine, 吴叔 no answer.

    Tasks, minutes from request to taken / done:
      幸福里 grid 1: 王大爷 medicine 10 / 60, 梁阿姨 groceries 4 / 120, 刘奶奶 unwell 30 / -;
                     and one made the day before (not counted) that escalated at 00:05 on DAY (counted).
      幸福里 grid 2: 吴叔 groceries 100 / 120 (escalated at 10:30), 赵姐's visit - / - (escalated at 12:30).
      和平:          孙爷爷 groceries 2 / 32.
    """
    ids: dict[str, int] = {}
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        people = {}
        for room, (name, (community, grid, building, phone)) in enumerate(PEOPLE.items(), start=101):
            resident = register.add_resident(
                session,
                name=name,
                phones=[phone],
                liaison_phone=LIAISON_PHONE,
                region="CN",
                address=register.Address(community, building, "1单元", str(room)),
            )
            household = resident.household
            assert household.community is not None
            household.grid = register.find_or_create_grid(session, household.community, grid)
            people[name] = resident
            ids[name] = resident.id
        session.flush()
        ids["home"] = people["梁阿姨"].household.community_id or 0
        ids["peace"] = people["孙爷爷"].household.community_id or 0
        for name, status in (
            ("梁阿姨", CheckinStatus.FINE),
            ("王大爷", CheckinStatus.NEEDS),
            ("刘奶奶", CheckinStatus.UNWELL),
            ("吴叔", CheckinStatus.SENT),
            ("孙爷爷", CheckinStatus.FINE),
        ):
            _checkin(session, people[name], "09:00", status)
        _checkin(session, people["梁阿姨"], "15:00", CheckinStatus.FINE)
        yesterday = DAY - timedelta(days=1)
        _checkin(session, people["孙爷爷"], "09:00", CheckinStatus.FINE, yesterday)
        _checkin(session, people["吴叔"], "09:00", CheckinStatus.SENT, yesterday)
        m = TaskCategory
        _task(session, people["王大爷"], m.MEDICINE, at("09:06"), at("09:16"), at("10:06"))
        _task(session, people["梁阿姨"], m.GROCERIES, at("09:30"), at("09:34"), at("11:30"))
        _task(session, people["刘奶奶"], m.UNWELL, at("09:07"), at("09:37"))
        _task(session, people["王大爷"], m.RUBBISH, at("23:50", yesterday), at("00:10"), escalated=(at("00:05"),))
        _task(session, people["吴叔"], m.GROCERIES, at("10:00"), at("11:40"), at("12:00"), escalated=(at("10:30"),))
        visit = _task(session, people["赵姐"], m.VISIT, at("12:00"), escalated=(at("12:30"),))
        zhao = _checkin(session, people["赵姐"], "09:00", CheckinStatus.SENT)
        zhao.visit_task_id, zhao.rung = visit.id, 2
        _task(session, people["孙爷爷"], m.GROCERIES, at("08:00"), at("08:02"), at("08:32"))
    return ids
