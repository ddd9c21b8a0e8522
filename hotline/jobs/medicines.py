"""RQ job of the medicines: offer a medicine task for each medicine about to run out (`make_medicine_tasks`)."""

from __future__ import annotations

from dispatch.tasks.medicine_refills import make_medicine_tasks
from hotline.handover import Decided, hand_over
from hotline.services import current


def medicine_tick() -> dict[str, int]:
    """Make the medicine tasks due now and hand their offers over. Run by `hotline scheduler` with the check-in
    tick; a second run (or scheduler) at the same moment makes nothing more."""
    services = current()
    now = services.clock()
    with services.sessions.begin() as session:
        made = make_medicine_tasks(session, now, services.intake)
    hand_over(services.redis, Decided(sends=made.outbound))
    return {"made": made.made, "joined": made.joined}
