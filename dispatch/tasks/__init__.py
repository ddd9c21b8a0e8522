"""Tasks (one need of one household) and everything that happens to them.

lifecycle        create a task and put it in play; take, finish, hand back, cancel it; tell the resident
escalation       the task ladder: a task nobody takes in time climbs to the backup, the grid leader, duty staff
offers           a task's circle: everyone it was offered to, who may take it while nobody has
task_texts       the SMS about a task, to liaisons and staff
liaison_replies  liaisons' replies by SMS: commands and natural replies, carried out
liaison_reading  what a liaison's natural reply (收到, 12接了) means, given their tasks in play
staff_actions    what staff do to a task: assign, note, close, cancel, triage
staff_views      tasks as staff read them: the filtered list, one task's whole history
"""
