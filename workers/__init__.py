"""RQ job functions, queue wiring and the outbound gateways."""
