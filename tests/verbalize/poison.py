"""A test-only encoder that kills its own process (SIGKILL, as the out-of-memory killer does) on any item whose
path holds "poison": a stand-in for an item that costs more memory than the machine has. Spawned workers and Ray
actors import it by its ``_target_`` (test_hostile_round3.py, test_shared.py, test_executors.py)."""

import os
import signal

from ava.encoders.base import Encoder, Item, Weights


class KillOnPoison(Encoder):
    name = "poison"

    def __init__(self, device: str = "cpu", threads: int = 0):
        pass

    @classmethod
    def resolve(cls, cfg) -> Weights:
        return Weights("poison", "none")

    def encode(self, items: list[Item]) -> None:
        if any("poison" in item.row["media_path"] for item in items):
            os.kill(os.getpid(), signal.SIGKILL)


class KillOnLoad(KillOnPoison):
    """Kills its worker while the encoders load: no item is to blame."""

    def __init__(self, device: str = "cpu", threads: int = 0):
        os.kill(os.getpid(), signal.SIGKILL)
