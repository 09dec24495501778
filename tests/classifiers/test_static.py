"""The numpy static embedder against a hand computation and model2vec on a tiny fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers.embed import CachedEmbedder, Embedder
from classifiers.static import StaticConfig, StaticEmbedder, quantize_rows

VOCAB = ["[PAD]", "[UNK]", "the", "cat", "sat", "on", "mat", "##s", "dog"]


def tiny_tokenizer():  # noqa: ANN201 - tokenizers.Tokenizer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def tiny_embedder(max_tokens: int = 512) -> StaticEmbedder:
    vectors = np.random.default_rng(0).normal(size=(len(VOCAB), 4)).astype(np.float32)
    return StaticEmbedder(tiny_tokenizer(), vectors, StaticConfig(model_id="test/tiny", dim=4, max_tokens=max_tokens))


def test_encode_is_normalised_mean_of_token_vectors_without_unk() -> None:
    emb = tiny_embedder()
    assert isinstance(emb, Embedder)
    v = emb._vectors
    out = emb.encode(["The cats sat", "zebra", ""])
    ids = [VOCAB.index(t) for t in ("the", "cat", "##s", "sat")]
    want = v[ids].mean(axis=0)
    np.testing.assert_allclose(out[0], want / np.linalg.norm(want), rtol=1e-6)
    assert not out[1].any() and not out[2].any()  # only [UNK] / nothing: the zero vector
    np.testing.assert_allclose(emb.encode(["The cats sat"])[0], out[0], rtol=1e-6)  # single == batch
    assert emb.encode([]).shape == (0, 4)


def test_max_tokens_keeps_the_first_tokens() -> None:
    emb = tiny_embedder(max_tokens=2)
    np.testing.assert_allclose(emb.encode(["the cat sat on the mat"]), emb.encode(["the cat"]), rtol=1e-6)


def test_matches_model2vec_on_the_fixture() -> None:
    model2vec = pytest.importorskip("model2vec")
    emb = tiny_embedder()
    ref = model2vec.StaticModel(vectors=emb._vectors, tokenizer=tiny_tokenizer(), normalize=True)
    texts = ["the cat sat on the mat", "dogs sat", "The Cats"]
    np.testing.assert_allclose(emb.encode(texts), ref.encode(texts), rtol=1e-5, atol=1e-6)


def test_save_load_round_trip_int8(tmp_path: Path) -> None:
    emb = tiny_embedder()
    paths = emb.save(tmp_path)
    assert sorted(p.name for p in paths) == ["static.json", "static.npz", "tokenizer.json"]
    loaded = StaticEmbedder.load(tmp_path)
    assert loaded.describe() == {"kind": "static", **emb.config.to_json()}
    texts = ["the cat sat on the mat", "dog"]
    np.testing.assert_allclose(loaded.encode(texts), emb.encode(texts), atol=0.02)
    with np.load(tmp_path / "static.npz", allow_pickle=False) as npz:
        assert npz["vectors"].dtype == np.int8
    loaded.save(tmp_path / "again")  # re-quantising dequantised vectors is lossless
    with np.load(tmp_path / "static.npz") as a, np.load(tmp_path / "again" / "static.npz") as b:
        np.testing.assert_array_equal(a["vectors"], b["vectors"])


def test_quantize_rows() -> None:
    v = np.array([[1.0, -0.5, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    q, s = quantize_rows(v)
    assert q.dtype == np.int8 and q[0, 0] == 127 and s[1] == 1.0
    np.testing.assert_allclose(q * s[:, None], v, atol=1 / 127)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="dim"):
        StaticEmbedder(tiny_tokenizer(), np.zeros((len(VOCAB), 3), np.float32), StaticConfig("x", dim=4))
    with pytest.raises(ValueError, match="rows"):
        StaticEmbedder(tiny_tokenizer(), np.zeros((2, 4), np.float32), StaticConfig("x", dim=4))


def test_cached_embedder_serves_repeats_from_cache() -> None:
    inner = tiny_embedder()
    calls: list[list[str]] = []
    real = inner.encode

    def spy(texts):  # noqa: ANN001, ANN202
        calls.append(list(texts))
        return real(texts)

    inner.encode = spy  # type: ignore[method-assign]
    cache = CachedEmbedder(inner, max_entries=2)
    first = cache.encode(["the cat", "the dog", "the cat"])
    assert calls == [["the cat", "the dog"]] and (cache.hits, cache.misses) == (0, 3)
    np.testing.assert_array_equal(cache.encode(["the dog"]), first[1:2])
    assert cache.hits == 1 and len(calls) == 1
    cache.encode(["mat"])  # evicts the least recently used ("the cat")
    cache.encode(["the cat"])
    assert calls[-1] == ["the cat"]
    with pytest.raises(ValueError):
        CachedEmbedder(inner, max_entries=0)
