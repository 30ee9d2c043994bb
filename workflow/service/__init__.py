"""Use cases: one handler per command, run through the message bus against the ports in `ports`."""
