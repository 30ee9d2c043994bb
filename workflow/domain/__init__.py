"""The pure domain core: standard library and `transitions` only, no I/O and no clock reads."""
