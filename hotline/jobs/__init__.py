"""RQ jobs: entry points beside the web app and the CLI. Each takes plain ids, gets its parts from
`hotline.services.current()`, and is idempotent.

    inbound.process_inbound_sms   one stored inbound SMS → its task and answers
    sends.send_sms                one stored SMS or call → the gateway
    checkins.checkin_tick         make the day's check-ins, send those due, climb the ladder
    checkins.send_batch           a batch of check-in SMS and calls → the gateway
    sweeper.sweep                 work the database has and Redis lost → queued again
    worker.build_worker           the RQ worker that runs them (and the names they had before they lived here)
"""
