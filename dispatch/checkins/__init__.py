"""The daily check-in (一次电话) and its ladder: no household missed (不漏一户).

rules                  when, how, quiet hours, and when each rung is due
plans                  each resident's plan: their own, or the default of their categories
schedule               make each day's check-ins from the plans, then send those due, in batches
missed_checkin_ladder  no answer: a reminder and a call; call retries; by the deadline a visit task
checkin_calls          placing a check-in call; a call instead of a check-in SMS that did not arrive
answers                a resident's message or call answers their latest check-in
staff_calls            calls staff ask for: one resident, or a selection, within their scope
report                 coverage per community and grid, resident by resident
"""
