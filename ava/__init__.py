"""AVA: align language models with human opinions by learning from what people do with ads.

Stages, each a command: ``python -m ava.verbalize`` → ``ava.dedup`` → ``ava.build_dataset`` → ``ava.train``
→ ``ava.evaluate``. See README.md and DESIGN.md.
"""

__version__ = "0.1.0"
