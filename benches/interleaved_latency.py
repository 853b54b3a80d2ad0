#!/usr/bin/env python3
"""Per-line latency of two long-running `entendu parse`/`embed` processes, fed in turn.

The build VM's speed drifts by up to 1.5x from one minute to the next, so two builds (or two
settings) timed one after the other are not comparable. Here both processes are started, then
each new line goes to A, then to B: both see the same minute of the machine.

    python3 benches/interleaved_latency.py "A_COMMAND" "B_COMMAND" [--lines 200]

e.g. f32 against int8 on the same build:

    python3 benches/interleaved_latency.py \
        "env ENTENDU_PRECISION=f32 target/release/entendu parse models/support --cache-mb 0" \
        "env ENTENDU_PRECISION=int8 target/release/entendu parse models/support --cache-mb 0"

Each line is new to the process (a counter is appended), so the cache of recent encodings never
answers; `--cache-mb 0` turns it off anyway. Prints p50 and p95 in milliseconds per command.
"""

import argparse
import shlex
import subprocess
import time

SENTENCES = [
    "où est ma commande 48213 ?",
    "je voudrais être remboursé",
    "vous ouvrez à quelle heure samedi ?",
    "mon colis est arrivé abîmé",
    "je veux parler à un conseiller",
    "annulez ma commande svp",
]


def ask(process, line):
    started = time.perf_counter()
    process.stdin.write((line + "\n").encode())
    process.stdin.flush()
    process.stdout.readline()
    return (time.perf_counter() - started) * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commands", nargs=2, help="two shell commands that answer one line per input line")
    parser.add_argument("--lines", type=int, default=200)
    args = parser.parse_args()
    processes = [
        subprocess.Popen(shlex.split(c), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for c in args.commands
    ]
    for p in processes:
        ask(p, "bonjour")  # loading and the first pass are not what is measured
    times = [[], []]
    for i in range(args.lines):
        for j, p in enumerate(processes):
            times[j].append(ask(p, f"{SENTENCES[i % len(SENTENCES)]} {i}"))
    for command, t in zip(args.commands, times):
        t.sort()
        print(f"p50 {t[len(t) // 2]:.2f} ms  p95 {t[int(len(t) * 0.95)]:.2f} ms  {command}")
    for p in processes:
        p.stdin.close()
        p.wait()


if __name__ == "__main__":
    main()
