"""Webhooks Twilio calls: inbound SMS and delivery reports, every one signed."""
