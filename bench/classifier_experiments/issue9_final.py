"""Issue 9: the shipped default on every evaluation file, and ``--cv 5`` on every pair file, via ``tierroute eval``.

Run: ``python -m bench.classifier_experiments.issue9_final [--card] [--no-cv]``. Each number comes
from the command itself (``tierroute eval FILE [--split test] --json`` and ``tierroute eval FILE
--cv 5 --json``). Writes ``docs/benchmarks/classifier_issue9.json``; with ``--card`` it also
replaces the held-out section of ``classifiers/default/MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = "../shared/data"
FILES = (  # (file, split for the default; AlpacaEval: every row, never trained on)
    ("routerbench0shot_mistral7b_vs_gpt4.jsonl", "test"),
    ("multimodel/mmlupro__pair.jsonl", "test"),
    ("multimodel/arenabench__pair.jsonl", "test"),
    ("alpaca_eval_mixtral_vs_gpt4turbo.jsonl", None),
    ("alpaca_eval_gpt35turbo_vs_gpt4turbo.jsonl", None),
)


def tierroute_eval(*args: str) -> dict:
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "tierroute"), "eval", *args, "--json"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--card", action="store_true")
    parser.add_argument("--no-cv", action="store_true")
    ns = parser.parse_args(argv)
    held, cv = {}, {}
    for name, split in FILES:
        args = [f"{DATA}/{name}"] + (["--split", split] if split else [])
        r = tierroute_eval(*args)
        held[name] = {"split": split or "all", "n": r["n"], "model": r["apgr"],
                      **{k: v["apgr"] for k, v in r["baselines"].items()}}
        print(name, held[name], flush=True)
        if not ns.no_cv:
            c = tierroute_eval(f"{DATA}/{name}", "--cv", "5")
            cv[name] = {"n": c["n"], "model": c["apgr"], **{k: v["apgr"] for k, v in c["baselines"].items()}}
            print(name, "cv5", cv[name], flush=True)
    out = ROOT / "docs" / "benchmarks" / "classifier_issue9.json"
    out.write_text(json.dumps({"default": held, "cv5": cv}, indent=2) + "\n")
    print(render(held, cv))
    if ns.card:
        from classifiers.training.train import HELD_OUT_BEGIN, HELD_OUT_END

        card = ROOT / "classifiers" / "default" / "MODEL_CARD.md"
        text = card.read_text()
        head, rest = text.split(HELD_OUT_BEGIN)
        _, tail = rest.split(HELD_OUT_END)
        card.write_text(f"{head}{HELD_OUT_BEGIN}\n{render(held, cv)}\n{HELD_OUT_END}{tail}")


def render(held: dict, cv: dict) -> str:
    lines = ["APGR of this model (`tierroute eval FILE [--split test]`); AlpacaEval: every row, never trained on.", "",
             "| file | rows | model | prompt length | random | margin over the better baseline |",
             "|---|---|---|---|---|---|"]
    margins = []
    for name, r in held.items():
        m = r["model"] - max(r["prompt_length"], r["random"])
        margins.append(m)
        lines.append(f"| {name} ({r['split']}) | {r['n']} | {r['model']:.3f} | {r['prompt_length']:.3f} | "
                     f"{r['random']:.3f} | {m:+.3f} |")
    lines.append(f"| mean margin | | | | | {sum(margins) / len(margins):+.3f} |")
    if cv:
        lines += ["", "`tierroute eval FILE --cv 5` (the recipe trained on the file's own pair labels, 5 folds):", "",
                  "| file | rows | recipe | bag of words | prompt length | margin over the better |",
                  "|---|---|---|---|---|---|"]
        for name, r in cv.items():
            m = r["model"] - max(r["bag_of_words"], r["prompt_length"])
            lines.append(f"| {name} | {r['n']} | {r['model']:.3f} | {r['bag_of_words']:.3f} | "
                         f"{r['prompt_length']:.3f} | {m:+.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
