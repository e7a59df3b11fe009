#!/usr/bin/env python3
"""The GPU parity and speed table of issue 13 (Markdown) from arch_parity.py's JSON.

  python3 bench/reference/arch_table.py RESULTS.json [OUT.md]

Standard library only. Columns: bfloat16 logits against transformers (bit-identical, or max/mean
|diff| and argmax agreement), qrun's and transformers' mean |diff| to the float32 eager reference,
float32 max |diff| relative to (1 + max |logit|), the 32 greedy tokens, and (when measured) perplexity
tokens/s and decode ms/token for qrun and transformers.
"""
import json
import sys


def f(v, spec):
    return "—" if v is None else format(v, spec)


def row(r):
    b, fp = r["bf16"], r["fp32"]
    q = b["qrun_vs_hf"]
    bf = "bit-identical" if q["bit_identical"] else f"max {q['max_abs']:.3g}, mean {q['mean_abs']:.3g}, argmax {100 * q['argmax_agree']:.2f} %"
    ref = f"{b['qrun_vs_fp32_ref']['mean_abs']:.4g} / {b['hf_vs_fp32_ref']['mean_abs']:.4g}"
    rel = fp["qrun_vs_hf"]["max_abs"] / (1 + fp["max_abs_logit"])
    g = r["greedy"]
    greedy = "equal" if g["qrun_equal_hf_teacher_forced"] else (
        "equal where HF reproduces" if g["qrun_equal_where_hf_reproduces"] else "DIFFERENT")
    sp = r.get("speed", {})
    qs, hs = sp.get("qrun", {}), sp.get("hf", {})
    speed = [f(qs.get("ppl_tokens_per_s"), ",.0f"), f(hs.get("ppl_tokens_per_s"), ",.0f"),
             f(qs.get("decode_ms_per_token"), ".2f"), f(hs.get("decode_ms_per_token"), ".2f")]
    return [r["family"], r["attention"], bf, ref, f"{rel:.2e}", greedy] + speed + ["pass" if r["pass"]["all"] else "FAIL"]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: arch_table.py RESULTS.json [OUT.md]")
    results = json.load(open(sys.argv[1]))
    head = ["family", "HF attention", "bf16 logits vs HF", "mean |Δ| to fp32 ref (qrun / HF)",
            "fp32 max |Δ| / (1+max|logit|)", "32 greedy tokens", "ppl tok/s qrun", "ppl tok/s HF",
            "decode ms/tok qrun", "decode ms/tok HF", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    meta = results[0] if results else {}
    text = "\n".join(lines) + f"\n\nDevice: {meta.get('device')}, torch {meta.get('torch')}, transformers {meta.get('transformers')}.\n"
    print(text)
    if len(sys.argv) > 2:
        open(sys.argv[2], "w").write(text)


if __name__ == "__main__":
    main()
