"""The staff console: sign-in, the board, and (with the local gateway) the phone simulator's page."""
