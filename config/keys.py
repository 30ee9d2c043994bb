"""Where this instance keeps its signing keys: the `keys/` folder of the instance path (a settings decision)."""

from __future__ import annotations

from config.settings import Settings
from workflow.store.signing import KeyRing


def key_ring(settings: Settings) -> KeyRing:
    """The instance's key ring; the active key signs, retired keys still verify what they signed."""
    return KeyRing(settings.instance_path / "keys")
