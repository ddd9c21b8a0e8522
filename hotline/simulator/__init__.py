"""The phone simulator: plays residents' and liaisons' phones, and Twilio, against our own webhooks.

It exists only with the local gateway. Its TwiML interpreter (`twiml`) is the one the tests' call-flow runner
uses too.
"""
