"""Messages from numbers not on the register, for staff: each number's open triage item (`items`), what it shows
(`views`), handling its messages as a resident's once the number is on the register (`handover`), and what staff
do to it: link it to a resident, register a new one, or close it (`actions`).

The modules are imported one by one: intake needs `items`, and `handover` needs intake.
"""
