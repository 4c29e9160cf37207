#!/usr/bin/env python3
"""Soak test of the real explorer in tmux (issue 11): seeded random keys for a while, resizes between 60x16 and
200x60, play, prompt edits with Unicode and control characters, image switching over all sources. After every burst
of keys it checks that the process is alive and the frame is sane (the tab bar is there, every row fits the width,
panel borders are at both edges), and at the end that the resident memory after warm-up grew by less than 10 %.

    Tests/e2e/soak.py BINARY [--seconds 60] [--seed 0] [--checkpoint PATH]

Prints one line per burst problem, a summary with the numbers (keys sent, bursts, resizes, crashes, RSS at start and
end) and "N passed, N failed"; exits 1 on any failure. Standard library only; needs tmux.
"""

from __future__ import annotations

import argparse
import ctypes
import locale
import os
import random
import shlex
import shutil
import subprocess
import tempfile
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS_PER_BURST = 25
# Key names tmux understands, with weights. No q and no C-c: the soak ends the explorer itself.
KEYS = [
    ("Tab", 4), ("BTab", 2), ("1", 2), ("2", 3), ("3", 3), ("4", 2), ("5", 2), ("6", 1),
    ("j", 4), ("k", 3), ("[", 3), ("]", 4), (",", 2), (".", 3), ("Space", 2), ("v", 3), ("o", 1), ("+", 2), ("-", 1),
    ("n", 4), ("N", 2), ("p", 2), ("P", 1), ("s", 2), ("c", 1), ("u", 1), ("t", 1), ("m", 1), ("g", 1), ("?", 1),
    ("Escape", 2), ("BSpace", 1), ("Enter", 2), ("Up", 1), ("Down", 1), ("Left", 1), ("Right", 1), ("PPage", 1),
    ("NPage", 1), ("Home", 1), ("End", 1), ("i", 1), ("d", 3), ("a", 2), ("e", 1),
    # Issue 18: presenter mode, search, mouse on/off, zoom, probe cards (written into the soak's own folder).
    ("Z", 1), ("/", 1), ("M", 1), ("z", 1), ("C", 1), ("7", 1),
]
WORDS = ["coat", "ankle boot", "a photo of a sneaker", "東京タワー", "👨‍👩‍👧 family", "🇯🇵", "café crème", "ｆｕｌｌ",
         "שלום", "\u202eevil", "x" * 40, "sandal"]
CONTROLS = ["C-a", "C-g", "C-b", "C-l", "C-z", "C-o"]
libc = ctypes.CDLL("libc.so.6")


def display_width(line: str) -> int:
    return libc.wcswidth(ctypes.c_wchar_p(line), len(line))


class Tmux:
    def __init__(self, socket: str):
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sane(screen: str, width: int, height: int) -> str | None:
    """None when the captured frame looks right for a `width` x `height` terminal, else what is wrong."""
    lines = screen.split("\n")
    if len(lines) < height:
        return f"{len(lines)} lines for a {height}-row terminal"
    lines = lines[:height]
    for i, line in enumerate(lines):
        if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line):
            return f"row {i} holds a control character"
        if display_width(line) > width:
            return f"row {i} takes {display_width(line)} columns of {width}"
    if width < 60 or height < 16:
        return None if "Terminal too small" in screen else "no too-small notice below 60x16"
    if "q:quit" not in lines[0] and "?:help" not in lines[0]:
        return f"tab bar missing: {lines[0]!r}"
    # Presenter mode: row 1 is the large title, the panel and the explanation boxes follow.
    first = 2 if "What this shows" in screen and " panel " in lines[1] else 1
    for i in range(first, height - 1):
        line = lines[i]
        if not line or line[0] not in "┌│└+|" or display_width(line) != width or line[-1] not in "┐│┘+|":
            return f"row {i} lost a panel border: {line!r}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=str(ROOT / "assets/checkpoints/default.safetensors"))
    args = ap.parse_args()
    locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    rng = random.Random(args.seed)
    tm = Tmux(f"spikeclip-soak-{os.getpid()}")
    names = [k for k, _ in KEYS]
    weights = [w for _, w in KEYS]
    # In a folder of its own: `C` writes probe cards into the working directory.
    workdir = tempfile.mkdtemp(prefix="spikeclip-soak-")
    command = (f"cd {shlex.quote(workdir)} && exec env LANG=C.UTF-8 TERM=tmux-256color XDG_CONFIG_HOME={shlex.quote(workdir)} "
               f"{shlex.quote(os.path.abspath(args.binary))} --checkpoint {shlex.quote(os.path.abspath(args.checkpoint))}")
    width, height = 80, 24
    tm("new-session", "-d", "-s", "soak", "-x", str(width), "-y", str(height), command)
    tm("set-option", "-t", "soak", "status", "off")
    tm("set-option", "-t", "soak", "remain-on-exit", "on")
    keys = bursts = resizes = insane = crashes = 0
    rss_start = rss_end = rss_peak = 0
    try:
        pid = int(tm("display-message", "-p", "-t", "soak", "#{pane_pid}").strip())
        # Keys go in only once the explorer is up and its first analysis is on screen (a slow start would otherwise
        # see them echoed by the terminal before curses takes it over, and warm-up would end before the model did).
        started = time.monotonic()
        while True:
            screen = tm("capture-pane", "-p", "-t", "soak")
            if sane(screen, width, height) is None and "SNN:" in screen:
                break
            if time.monotonic() - started > 180:
                print(f"FAIL the explorer did not show its first analysis within 180 s:\n{screen}")
                return 1
            time.sleep(0.2)
        print(f"soak: explorer up after {time.monotonic() - started:.1f} s")
        deadline = time.monotonic() + args.seconds
        warmup_end = time.monotonic() + min(20.0, args.seconds / 4)
        while time.monotonic() < deadline:
            if rng.random() < 0.15:
                width, height = rng.randint(60, 200), rng.randint(16, 60)
                tm("resize-window", "-t", "soak", "-x", str(width), "-y", str(height))
                resizes += 1
            for _ in range(KEYS_PER_BURST):
                key = rng.choices(names, weights)[0]
                tm("send-keys", "-t", "soak", key)
                keys += 1
                if key in ("a", "e") and rng.random() < 0.8:  # a prompt edit: words, wide text, controls
                    for _ in range(rng.randint(1, 3)):
                        if rng.random() < 0.3:
                            tm("send-keys", "-t", "soak", rng.choice(CONTROLS))
                        else:
                            tm("send-keys", "-t", "soak", "-l", rng.choice(WORDS) + " ")
                        keys += 1
                    tm("send-keys", "-t", "soak", rng.choice(["Enter", "Enter", "Escape"]))
                    keys += 1
                elif key == "i":
                    tm("send-keys", "-t", "soak", "-l", str(rng.randint(0, 12000)))
                    tm("send-keys", "-t", "soak", "Enter")
                    keys += 2
                time.sleep(rng.uniform(0, 0.02))
            bursts += 1
            if tm("display-message", "-p", "-t", "soak", "#{pane_dead}").strip() == "1":
                status = tm("display-message", "-p", "-t", "soak", "#{pane_dead_status}").strip()
                crashes += 1
                print(f"CRASH after {keys} keys (burst {bursts}, {width}x{height}): exit status {status}")
                print("\n".join("     | " + l for l in tm("capture-pane", "-p", "-t", "soak").split("\n")))
                break
            problem = None
            for _ in range(30):  # the explorer redraws within a few frames; give a slow analysis 3 s
                problem = sane(tm("capture-pane", "-p", "-t", "soak"), width, height)
                if problem is None:
                    break
                time.sleep(0.1)
            if problem:
                insane += 1
                print(f"FAIL burst {bursts} ({keys} keys, {width}x{height}): {problem}")
            rss = rss_kib(pid)
            rss_peak = max(rss_peak, rss)
            if time.monotonic() >= warmup_end and rss_start == 0:
                rss_start = rss
            rss_end = rss
    finally:
        tm("kill-server", check=False)
        cards = len([d for d in os.listdir(workdir) if d.startswith("spikeclip-card-")])
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"soak: {cards} probe cards written by C")
    growth = (rss_end - rss_start) / rss_start * 100 if rss_start else float("nan")
    print(f"soak: {args.seconds:.0f} s, seed {args.seed}: {keys} keys in {bursts} bursts, {resizes} resizes, "
          f"{insane} insane frames, {crashes} crashes; RSS after warm-up {rss_start / 1024:.1f} MiB, "
          f"at the end {rss_end / 1024:.1f} MiB ({growth:+.1f} %), peak {rss_peak / 1024:.1f} MiB")
    rss_ok = rss_start > 0 and growth < 10
    if not rss_ok:
        print(f"FAIL RSS grew by {growth:.1f} % after warm-up (limit 10 %)")
    failed = insane + crashes + (0 if rss_ok else 1)
    print(f"{bursts - insane - crashes + (1 if rss_ok else 0)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
