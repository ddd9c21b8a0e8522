"""The fault run: signed inbound SMS on three channels (Twilio, Tencent Cloud SMS, an Android SIM) at a steady pace
while workers, Redis, the web server and each channel's provider fail.

`python -m tests.chaos` runs the full version (5,000 SMS over 60 s from 500 residents) and prints a line per
channel and one for the run: sent, acknowledged, lost, duplicated, misrouted. `tests/chaos/test_chaos.py` runs a
short version in CI. Everything stays on loopback and stops by itself.
"""
