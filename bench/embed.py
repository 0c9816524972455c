"""Embedding throughput: the code_embeddings stage's Encoder against sentence-transformers `encode`, same model
(the embedded all-MiniLM-L6-v2), same snippets (functions harvested from this Python's standard library), same
process. Prints snippets/s of both and the ratio (target >= 1.0x), and checks both give the same vectors.

    python bench/embed.py [--n 5000] [--batch-size 32] [--save /tmp/minilm_stdlib.npy]
"""

import argparse
import ast
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch


def stdlib_snippets(n: int, min_chars: int = 50, max_chars: int = 4000) -> list[str]:
    """The source of up to n functions from the standard library's .py files, in a fixed order."""
    snippets = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts:
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                code = ast.get_source_segment(source, node)
                if code and min_chars <= len(code) <= max_chars:
                    snippets.append(code)
                    if len(snippets) == n:
                        return snippets
    return snippets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256, help="the model's own max_seq_length is 256")
    parser.add_argument("--round", type=int, default=500, help="snippets per turn (the two take turns)")
    parser.add_argument("--save", help="write our embeddings here (.npy), e.g. for bench/coreset.py --real")
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    from wavecoder_assets.embed import Encoder, embedded_minilm_dir

    snippets = stdlib_snippets(args.n)
    print(f"{len(snippets)} stdlib functions, median {int(np.median([len(s) for s in snippets]))} chars; "
          f"torch threads {torch.get_num_threads()}")
    ours = Encoder(batch_size=args.batch_size, max_length=args.max_length)
    theirs = SentenceTransformer(str(embedded_minilm_dir()), device="cpu")
    theirs.max_seq_length = args.max_length
    ours.encode(snippets[:64]), theirs.encode(snippets[:64], batch_size=args.batch_size)  # warm-up

    # The CPU is shared: run both on the same slices in turns (alternating who goes first), so load swings hit both.
    ours_s = theirs_s = 0.0
    vectors, reference = [], []
    for turn, start in enumerate(range(0, len(snippets), args.round)):
        part = snippets[start : start + args.round]
        for who in ("ours", "theirs") if turn % 2 == 0 else ("theirs", "ours"):
            started = time.perf_counter()
            if who == "ours":
                vectors.append(ours.encode(part))
                ours_s += time.perf_counter() - started
            else:
                reference.append(theirs.encode(part, batch_size=args.batch_size, convert_to_numpy=True))
                theirs_s += time.perf_counter() - started
    vectors, reference = np.concatenate(vectors), np.concatenate(reference)

    print(f"sentence-transformers encode: {len(snippets) / theirs_s:7.1f} snippets/s ({theirs_s:.1f} s)")
    print(f"wavecoder Encoder:            {len(snippets) / ours_s:7.1f} snippets/s ({ours_s:.1f} s)")
    print(f"ratio: {theirs_s / ours_s:.2f}x (target >= 1.0x); max |difference| {np.abs(vectors - reference).max():.2e}")
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save, vectors)
        print(f"saved {vectors.shape} to {args.save}")


if __name__ == "__main__":
    main()
