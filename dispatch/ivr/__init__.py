"""The voice hotline's domain: scripts as data, checking them, and the record of each call."""
