"""The domain: the register, tasks, messages and the rules that move them. No web, Twilio or RQ code here."""
