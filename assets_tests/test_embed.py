"""Embeddings with the real embedded all-MiniLM-L6-v2: pooling against a direct forward pass, resumable chunks,
and a real materialization of code_embeddings (and coreset after it) on a small lake."""

import hashlib

import dagster as dg
import numpy as np
import polars as pl
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from assets_tests.test_partitions import all_shards
from wavecoder_assets.assets.coreset import CoresetConfig, coreset
from wavecoder_assets.assets.embed import CodeEmbeddingsConfig, code_embeddings
from wavecoder_assets.embed import Encoder, embed_resumable, embedded_minilm_dir, sentence_config
from wavecoder_assets.embed.step import embedding_table, rows_to_embed
from wavecoder_assets.lakefiles import read_table, table_path, write_table
from wavecoder_assets.resources import resources_for

SNIPPETS = [
    "def add(a, b):\n    return a + b",
    "public static int max(int[] xs) {\n  int m = xs[0];\n  for (int x : xs) if (x > m) m = x;\n  return m;\n}",
    "func Reverse(s string) string {\n\tr := []rune(s)\n\tfor i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {\n\t\tr[i], r[j] = r[j], r[i]\n\t}\n\treturn string(r)\n}",
    "x = 1",
    "function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }",
]


@pytest.fixture(scope="module")
def model_dir():
    return str(embedded_minilm_dir())


@pytest.fixture(scope="module")
def direct_forward(model_dir):
    """Last hidden states and attention mask of a plain transformers forward pass over SNIPPETS (padded together)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    batch = tokenizer(SNIPPETS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return hidden, batch["attention_mask"]


def test_embedded_model_is_extracted_with_its_sentence_config(model_dir):
    assert embedded_minilm_dir() == embedded_minilm_dir()  # extracted once, then found
    own = sentence_config(model_dir)
    assert own.pooling == "mean" and own.normalize is True  # what its 1_Pooling/config.json and modules.json say


def test_cls_pooling_is_the_first_token_of_a_direct_forward_pass(model_dir, direct_forward):
    hidden, _ = direct_forward
    vectors = Encoder(model_dir, pooling="cls", normalize=False, batch_size=2).encode(SNIPPETS)
    assert vectors.shape == (len(SNIPPETS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, hidden[:, 0].numpy(), atol=2e-5)


def test_mean_pooling_averages_only_real_tokens(model_dir, direct_forward):
    hidden, mask = direct_forward
    expected = ((hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)).numpy()
    vectors = Encoder(model_dir, pooling="mean", normalize=False, batch_size=2).encode(SNIPPETS)
    np.testing.assert_allclose(vectors, expected, atol=2e-5)
    # padding must not leak in: the mean over all positions differs for the short snippet
    assert not np.allclose(vectors[3], hidden[3].mean(0).numpy(), atol=1e-3)
    assert not np.allclose(vectors, Encoder(model_dir, pooling="cls", normalize=False).encode(SNIPPETS), atol=1e-2)


def test_default_follows_the_model_and_matches_sentence_transformers(model_dir):
    from sentence_transformers import SentenceTransformer

    encoder = Encoder(model_dir)  # pooling and normalization from the model's own config: mean, normalized
    assert (encoder.pooling, encoder.normalize) == ("mean", True)
    vectors = encoder.encode(SNIPPETS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    reference = SentenceTransformer(model_dir, device="cpu").encode(SNIPPETS, convert_to_numpy=True)
    np.testing.assert_allclose(vectors, reference, atol=2e-5)


def test_resumable_run_keeps_finished_chunks(tmp_path, model_dir):
    encoder = Encoder(model_dir, batch_size=4)
    texts = [f"def f{i}(x):\n    return x ** {i}" for i in range(10)] + SNIPPETS
    ids = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    fresh, reused = embed_resumable(ids, texts, encoder, tmp_path / "fresh", chunk_rows=4)
    assert reused == 0 and fresh["id"].to_list() == ids
    assert fresh.schema["embedding"] == pl.Array(pl.Float32, 384)

    class Interrupted(Exception):
        pass

    def stop_after_two_chunks(done, total):
        if done >= 8:
            raise Interrupted

    with pytest.raises(Interrupted):
        embed_resumable(ids, texts, encoder, tmp_path / "resumed", chunk_rows=4, progress=stop_after_two_chunks)
    resumed, reused = embed_resumable(ids, texts, encoder, tmp_path / "resumed", chunk_rows=4)
    assert reused == 8  # the two chunks written before the interruption
    np.testing.assert_allclose(resumed["embedding"].to_numpy(), fresh["embedding"].to_numpy(), atol=1e-6)
    # other settings never reuse these chunks
    _, reused_cls = embed_resumable(ids, texts, Encoder(model_dir, pooling="cls"), tmp_path / "resumed", chunk_rows=4)
    assert reused_cls == 0


def test_rows_to_embed_skips_blank_code_and_repeated_ids_then_samples_the_cap():
    frame = pl.DataFrame({"id": ["a", "b", "b", "c", "d", "e"], "language": ["python"] * 6,
                          "code": ["x = 1", "y = 2", "z = 3", "  ", None, "w = 4"], "docstring": [""] * 6})
    to_embed = rows_to_embed(frame, None)
    assert (to_embed.blank, to_embed.duplicate_ids) == (2, 1)
    assert to_embed.rows.rows() == [("a", "python", "x = 1"), ("b", "python", "y = 2"), ("e", "python", "w = 4")]
    capped = rows_to_embed(frame, 2, seed=3).rows
    assert capped.height == 2 and capped.equals(rows_to_embed(frame, 2, seed=3).rows)


def test_embedding_table_without_a_shard_has_no_rows_and_the_table_types():
    rows = pl.DataFrame(schema={"id": pl.String, "language": pl.String, "code": pl.String})
    table = embedding_table(rows, [], dim=3, model="m")
    assert table.is_empty()
    assert dict(table.schema) == {"id": pl.String, "language": pl.String, "embedding": pl.Array(pl.Float32, 3),
                                  "model": pl.String}


def _filtered_code(n: int) -> pl.DataFrame:
    languages = ["python", "go", "java"]
    bodies = {
        "python": "def {name}(items):\n    return [x * {i} for x in items if x > {i}]",
        "go": "func {name}(xs []int) int {{\n\ts := {i}\n\tfor _, x := range xs {{ s += x }}\n\treturn s\n}}",
        "java": "public int {name}(String s) {{ return s.length() + {i}; }}",
    }
    rows = []
    for i in range(n):
        language = languages[i % 3]
        code = bodies[language].format(name=f"f{i}", i=i)
        rows.append(
            {"id": hashlib.sha256(code.encode()).hexdigest(), "source": "test", "repo": f"org/r{i % 5}", "path": f"a/{i}",
             "func_name": f"f{i}", "language": language, "code": code, "docstring": f"Doc {i}.", "url": None, "sha": None,
             "partition": None}
        )
    rows.append({**rows[0], "id": "blank", "code": "   "})  # counted and skipped, not embedded
    rows.append(dict(rows[1]))  # a duplicate id: embedded once
    return pl.DataFrame(rows)


def test_materialize_code_embeddings_then_coreset_on_a_small_lake(lake_dir):
    filtered = _filtered_code(30)
    write_table(filtered, table_path(lake_dir, "filtered_code"))
    assets = [dg.AssetSpec("filtered_code"), code_embeddings, coreset]
    embed_config = CodeEmbeddingsConfig(max_rows=24, chunk_rows=10)
    run_config = dg.RunConfig({"code_embeddings": embed_config, "coreset": CoresetConfig(k=6)})
    # One run over every shard (code_embeddings is sharded by id; the coreset reads all shards).
    result = dg.materialize(assets, resources=resources_for("local", lake_dir=lake_dir), run_config=run_config,
                            tags=all_shards())
    assert result.success
    embeddings = read_table(lake_dir, "code_embeddings").drop("shard").sort("id")
    assert embeddings.columns == ["id", "language", "embedding", "model"]
    assert embeddings.height == 24 and embeddings["id"].n_unique() == 24  # capped sample
    assert embeddings.schema["embedding"] == pl.Array(pl.Float32, 384)
    assert "blank" not in embeddings["id"].to_list()
    vectors = embeddings["embedding"].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    codes = dict(zip(filtered["id"], filtered["code"]))
    np.testing.assert_allclose(vectors[:3], Encoder().encode([codes[i] for i in embeddings["id"][:3]]), atol=1e-5)

    # (one event per shard of code_embeddings, all with the run's metadata)
    events = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    meta = events["code_embeddings"]
    assert (meta["rows_embedded"].value, meta["skipped_blank_code"].value, meta["dropped_duplicate_ids"].value) == (24, 1, 1)
    assert meta["pooling"].value == "mean"

    selected = read_table(lake_dir, "coreset")
    assert selected["rank"].to_list() == list(range(6))
    assert set(selected["id"]) <= set(embeddings["id"])
    assert np.all(np.diff(selected["radius"].to_numpy()) <= 0)

    # a second run finds every row in the chunks and embeds nothing
    again = dg.materialize(
        assets, resources=resources_for("local", lake_dir=lake_dir), run_config=dg.RunConfig({"code_embeddings": embed_config}),
        selection=["code_embeddings"], tags=all_shards(),
    )
    meta = again.get_asset_materialization_events()[0].materialization.metadata
    assert (meta["rows_embedded"].value, meta["rows_from_earlier_chunks"].value) == (0, 24)
    assert read_table(lake_dir, "code_embeddings").drop("shard").sort("id").equals(embeddings)
