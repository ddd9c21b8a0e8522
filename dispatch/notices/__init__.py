"""Notices (防控信息): one text to a community, a grid or a category of residents, by SMS and/or automated call.

Who a notice reaches and what it costs is decided in `notice_plan`, the sending (once per form) in
`notice_sending`, its start at a later time (or its cancel before) in `notice_schedule`, and how far it is and who
may see it in `notice_views`.
"""

from dispatch.notices.notice_plan import BODY_LIMIT, CHANNELS, TARGET_KINDS, NoticePreview, Problem, preview
from dispatch.notices.notice_schedule import cancel_notice, due_notice_ids, local_start, start_notice
from dispatch.notices.notice_sending import send_notice
from dispatch.notices.notice_views import (
    LIST_LIMIT,
    STAGES,
    STATUSES,
    NoticeProgress,
    list_notices,
    notice_progress,
)

__all__ = [
    "BODY_LIMIT",
    "CHANNELS",
    "LIST_LIMIT",
    "STAGES",
    "STATUSES",
    "TARGET_KINDS",
    "NoticePreview",
    "NoticeProgress",
    "Problem",
    "cancel_notice",
    "due_notice_ids",
    "list_notices",
    "local_start",
    "notice_progress",
    "preview",
    "send_notice",
    "start_notice",
]
