"""The fault run: signed inbound SMS at a steady pace while workers, Redis, the web server and Twilio fail.

`python -m tests.chaos` runs the full version (5,000 SMS over 60 s from 500 residents) and prints one line:
sent, acknowledged, lost, duplicated. `tests/chaos/test_chaos.py` runs a short version in CI.
Everything stays on loopback and stops by itself.
"""
