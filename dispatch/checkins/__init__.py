"""The daily check-in (一次电话) and its ladder: no household missed (不漏一户).

rules       when, how, quiet hours, and when each rung is due
plans       each resident's plan: their own, or the default of their categories
schedule    make each day's check-ins from the plans, then send those due, in batches
ladder      no answer: a reminder and a call; call retries; by the deadline a visit task
answers     a resident's message or call answers their latest check-in
report      coverage per community and grid, resident by resident
"""
