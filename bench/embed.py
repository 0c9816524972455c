"""Embedding throughput of the code_embeddings stage's Encoder.

Default (CPU): the Encoder against sentence-transformers `encode`, same model (the embedded all-MiniLM-L6-v2), same
snippets (functions harvested from this Python's standard library), same process. Prints snippets/s of both and the
ratio (target >= 1.0x), and checks both give the same vectors.

--paper: the paper's setting, RoBERTa-large [CLS] over functions within the corpus filter's 50..800 characters, on
the GPU when torch sees one. Encodes in chunks as the asset does (`chunk_rows`), prints snippets/s and tokens/s after
a warm-up, and the time that projects to for the paper's 1.2M filtered functions. RoBERTa-large must be in the
Hugging Face cache or a local folder (`--model`); `--allow-download` lets transformers fetch it.

--save writes our embeddings (.npy), e.g. for `bench/coreset.py --real`; `--no-reference` skips sentence-transformers
(only embeds, resumably: finished chunks are kept next to the .npy), and `--roots` harvests further source trees
(site-packages) for 100k+ rows.

    python bench/embed.py [--n 5000] [--batch-size 32] [--save /tmp/minilm_stdlib.npy]
    python bench/embed.py --paper [--model roberta-large] [--n 20000] [--batch-size 128]
    python bench/embed.py --n 120000 --no-reference --roots STDLIB .venv/lib/python3.11/site-packages --save /tmp/minilm_120k.npy
"""

import argparse
import ast
import hashlib
import io
import sysconfig
import time
from pathlib import Path

import numpy as np
import torch

PAPER_FUNCTIONS = 1_200_000  # the paper's filtered corpus (as in bench/corpus.py)
PAPER_CHARS = (50, 800)  # the corpus filter's length range: what reaches the encoder


def _source_segment(lines: list[str], node: ast.AST) -> str:
    """ast.get_source_segment from lines split once (it splits the whole file again per call: quadratic)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset : node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset :].decode()
    return head + "".join(lines[first + 1 : last]) + lines[last].encode()[: node.end_col_offset].decode()


def harvested_snippets(n: int, roots: list[Path], min_chars: int = 50, max_chars: int = 4000) -> list[str]:
    """The source of up to n distinct functions from the .py files under `roots`, in a fixed order (tests and
    nested site-packages skipped)."""
    snippets, seen = [], set()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).parts
            if "site-packages" in parts or "test" in parts or "tests" in parts:
                continue
            try:
                source = path.read_text(encoding="utf-8")
                tree = ast.parse(source)
            except (UnicodeDecodeError, SyntaxError, ValueError):
                continue
            lines = io.StringIO(source, newline="").readlines()  # split as ast counts lines: \n, \r\n, \r
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    code = _source_segment(lines, node)
                    if min_chars <= len(code) <= max_chars and code not in seen:
                        seen.add(code)
                        snippets.append(code)
                        if len(snippets) == n:
                            return snippets
    return snippets


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def compare_with_sentence_transformers(snippets: list[str], args) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    from wavecoder_assets.embed import Encoder, embedded_minilm_dir

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
    return vectors


def encode_only(snippets: list[str], args) -> np.ndarray:
    """Our Encoder alone, through embed_resumable: finished chunks stay under --work-dir, so a killed run resumes."""
    from wavecoder_assets.embed import Encoder, embed_resumable

    encoder = Encoder(batch_size=args.batch_size, max_length=args.max_length)
    ids = [hashlib.sha256(s.encode()).hexdigest() for s in snippets]  # distinct: the snippets are
    work_dir = Path(args.work_dir or f"{args.save}.chunks")

    def progress(done: int, total: int) -> None:
        if done % (20 * args.round) == 0 or done == total:
            print(f"  {done:,}/{total:,} embedded, {time.perf_counter() - started:.0f} s", flush=True)

    started = time.perf_counter()
    table, reused = embed_resumable(ids, snippets, encoder, work_dir, chunk_rows=args.round, progress=progress)
    took = time.perf_counter() - started
    print(f"wavecoder Encoder: {(len(snippets) - reused) / took:.1f} snippets/s ({took:.1f} s); {reused:,} rows from "
          f"chunks in {work_dir}")
    return table["embedding"].to_numpy()


def paper_projection(snippets: list[str], args) -> np.ndarray:
    """Throughput at the paper's setting and the time it projects to for PAPER_FUNCTIONS."""
    from wavecoder_assets.embed import Encoder

    on_gpu = torch.cuda.is_available()
    print(f"device: {torch.cuda.get_device_name() if on_gpu else 'CPU (no CUDA device: this projects the CPU)'}")
    started = time.perf_counter()
    try:
        encoder = Encoder(args.model, pooling="cls", normalize=False, max_length=args.max_length,
                          batch_size=args.batch_size, local_files_only=not args.allow_download)
    except OSError as e:
        raise SystemExit(f"--paper: cannot load {args.model} ({e.__class__.__name__}); put it in the Hugging Face cache, "
                         "pass --allow-download, or give --model a local folder") from e
    print(f"{args.model}: dim {encoder.dim}, {encoder.model.dtype}, loaded in {time.perf_counter() - started:.1f} s")
    encoder.encode(snippets[: args.batch_size * 2])  # warm-up: kernels, allocator
    tokens = sum(min(len(ids), args.max_length) for ids in encoder.tokenizer(snippets, truncation=True)["input_ids"])
    if on_gpu:
        torch.cuda.synchronize()
    started = time.perf_counter()
    # In chunks, as embed_resumable calls it: each chunk is tokenized, then encoded.
    vectors = np.concatenate([encoder.encode(snippets[s : s + args.chunk_rows]) for s in range(0, len(snippets), args.chunk_rows)])
    took = time.perf_counter() - started
    rate = len(snippets) / took
    projected = PAPER_FUNCTIONS / rate
    print(f"{len(snippets):,} functions of {PAPER_CHARS[0]}..{PAPER_CHARS[1]} chars ({tokens / len(snippets):.0f} tokens "
          f"each on average, max_length {args.max_length}), batch {args.batch_size}, chunks of {args.chunk_rows}: "
          f"{took:.1f} s -> {rate:,.0f} functions/s, {tokens / took:,.0f} tokens/s")
    print(f"projected for {PAPER_FUNCTIONS:,} functions: {projected:,.0f} s ({projected / 60:.1f} min) on this device")
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, help="functions to embed (default 5000; --paper: 20000)")
    parser.add_argument("--batch-size", type=int, help="default 32; --paper: 128")
    parser.add_argument("--max-length", type=int, help="tokens; default 256 (MiniLM's max_seq_length); --paper: 512")
    parser.add_argument("--round", type=int, default=500, help="snippets per turn (the two take turns)")
    parser.add_argument("--save", help="write our embeddings here (.npy), e.g. for bench/coreset.py --real")
    parser.add_argument("--no-reference", action="store_true", help="only embed (with --save): no sentence-transformers "
                        "run; resumable, in chunks of --round rows under --work-dir")
    parser.add_argument("--work-dir", help="--no-reference: where finished chunks are kept (default: SAVE.chunks)")
    parser.add_argument("--roots", nargs="+", help="source trees to harvest functions from, in order; STDLIB: this "
                        "Python's standard library (the default)")
    parser.add_argument("--paper", action="store_true", help="RoBERTa-large [CLS] throughput and the 1.2M-function projection")
    parser.add_argument("--model", default="roberta-large", help="--paper: Hub id or local folder")
    parser.add_argument("--allow-download", action="store_true", help="--paper: let transformers download the model")
    parser.add_argument("--chunk-rows", type=int, default=512, help="--paper: rows per encode call (code_embeddings' chunk_rows)")
    args = parser.parse_args()
    if args.no_reference and not (args.save or args.work_dir):
        parser.error("--no-reference needs --save (or --work-dir)")
    args.n = args.n or (20_000 if args.paper else 5000)
    args.batch_size = args.batch_size or (128 if args.paper else 32)
    args.max_length = args.max_length or (512 if args.paper else 256)

    roots = [stdlib_root() if r == "STDLIB" else Path(r) for r in args.roots or ["STDLIB"]]
    chars = PAPER_CHARS if args.paper else (50, 4000)
    snippets = harvested_snippets(args.n, roots, *chars)
    print(f"{len(snippets)} functions from {', '.join(map(str, roots))}, median {int(np.median([len(s) for s in snippets]))} "
          f"chars; torch threads {torch.get_num_threads()}")
    if args.paper:
        vectors = paper_projection(snippets, args)
    elif args.no_reference:
        vectors = encode_only(snippets, args)
    else:
        vectors = compare_with_sentence_transformers(snippets, args)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save, vectors)
        print(f"saved {vectors.shape} to {args.save}")


if __name__ == "__main__":
    main()
