"""A lived-in past for `hotline demo`: fourteen days of check-ins and errands, and today's up to now.

Nothing here writes a check-in, a task or an SMS row of its own. The clock is set to each moment of the past in
turn, and at each the hotline does what its scheduler, sweeper and workers would (`make_checkins`, `send_due`,
`advance`, `escalate_due_tasks`, `flag_overdue_accepted`, every decided SMS and call handed over as the local
gateway does), while people answer as `dispatch.demo_people` says: residents through intake or the check-in call,
liaisons by SMS (接/完/退), staff through `dispatch.tasks.staff_actions`. So histories, receipts, check-in
standings and reports agree, as after a real fortnight. A few stories are told on purpose, so that a task stands
in each state the board shows, and others went through reopening, handing back and an alarm with no household.
The register's care (`dispatch.demo_care`) has its past too: residents in a ring mode ring (`count_ring`, the call
rejected as the voice hotline rejects it), the scheduler's medicine tasks are made each morning, a family member
told of an unanswered check-in sometimes answers for the resident, and staff set two residents away
(`set_absence`): one in hospital three days ago, one with family six days ago."""

from dispatch.demo_history.cast import DAYS, STORIES, story_households
from dispatch.demo_history.playback import HistorySummary, seed_history

__all__ = ["DAYS", "STORIES", "HistorySummary", "seed_history", "story_households"]
