"""Fill the embedding cache: MiniLM (torch) and static (distilled) embeddings of every text view.

Run: ``.venv/bin/python -m bench.classifier_experiments.embed_cache [minilm] [static DIR]``.
Views: ``full`` (the prompt), ``focus`` (:func:`classifiers.features.focus_text`); MiniLM also
gets ``full_tail`` (the prompt with tail truncation).
"""

from __future__ import annotations

import sys

from classifiers.features import focus_text

from .common import cached, datasets


def main(argv: list[str]) -> None:
    data = datasets()
    names = ("train", "test", "mixtral")  # gpt35 has the same prompts as mixtral
    if "minilm" in argv:
        from classifiers.embed import MiniLMEmbedder

        for trunc in ("head", "tail"):
            emb = MiniLMEmbedder.load(truncation=trunc)
            for name in names:
                texts = [r.prompt for r in data[name]]
                cached(f"minilm_full_{trunc}_{name}", lambda e=emb, t=texts: e.encode(t))
                if trunc == "head":
                    cached(f"minilm_focus_{name}", lambda e=emb, t=texts: e.encode([focus_text(x) for x in t]))
                print("minilm", trunc, name, flush=True)
    if "static" in argv:
        from classifiers.static import StaticEmbedder

        d = argv[argv.index("static") + 1]
        emb = StaticEmbedder.load(d)
        tag = d.rstrip("/").split("/")[-1]
        for name in names:
            texts = [r.prompt for r in data[name]]
            cached(f"static_{tag}_full_{name}", lambda t=texts: emb.encode(t))
            cached(f"static_{tag}_focus_{name}", lambda t=texts: emb.encode([focus_text(x) for x in t]))
        print("static", tag, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
