#!/usr/bin/env python3
"""Issue 8's targets as a Markdown table, from the JSON files bench/gpu/bench.sh writes.

  python3 bench/reference/speed_table.py RESULTS_DIR [OUT.md]

RESULTS_DIR holds hf_bfloat16.json, hf_float16.json (bench/reference/hf_speed.py) and
qrun_bfloat16.json, qrun_float16.json, qrun_int8.json, qrun_nf4.json (bench/qrun_bench; int8 and
nf4 quantize the float16 model). A missing file leaves its rows as "not run". Standard library
only. Prints the table (and writes it to OUT.md when given); exit status 0 even when a target is
missed: the table is the result.
"""
import json
import os
import sys

TARGET_PPL_SPEEDUP = 4.0      # perplexity tokens/s >= 4x transformers'
TARGET_DECODE_SPEEDUP = 20.0  # greedy decode batch 1: >= 20x faster than transformers' generate
TARGET_SUITE_SECONDS = 1.5    # 96 prompts x 128 new tokens, batched: <= 1.5 s
TARGET_QUANT_SLOWDOWN = 1.5   # int8 / nf4 time <= 1.5x the fp16 time (perplexity and decode)


def load(results, name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def get(doc, *keys):
    for k in keys:
        if doc is None or not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def fmt(v, unit=""):
    if v is None:
        return "not run"
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    if abs(v) >= 10:
        return f"{v:.1f}{unit}"
    return f"{v:.3f}{unit}"


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def rows(res):
    hf = {d: load(res, "hf_" + d) for d in ("bfloat16", "float16")}
    q = {d: load(res, "qrun_" + d) for d in ("bfloat16", "float16", "int8", "nf4")}
    out = []
    for d, short in (("bfloat16", "bf16"), ("float16", "fp16")):
        h = get(hf[d], "measurements", "ppl", "tokens_per_s")
        x = get(q[d], "measurements", "ppl", "tokens_per_s")
        r = x / h if h and x else None
        out.append((f"Perplexity {short}, ctx 2048 (tokens/s, tokenization excluded)", fmt(h), fmt(x),
                    fmt(r, "x") if r else "—", f">= {TARGET_PPL_SPEEDUP:g}x", verdict(None if r is None else r >= TARGET_PPL_SPEEDUP)))
        h = get(hf[d], "measurements", "ppl", "tokens_per_s_incl_tokenize")
        x = get(q[d], "measurements", "ppl", "tokens_per_s_incl_tokenize")
        r = x / h if h and x else None
        out.append((f"Perplexity {short}, ctx 2048 (tokens/s, incl. tokenizing the file)", fmt(h), fmt(x),
                    fmt(r, "x") if r else "—", "(information)", "n/a"))
    for d, short in (("bfloat16", "bf16"), ("float16", "fp16")):
        h = get(hf[d], "measurements", "decode", "seconds_median")
        x = get(q[d], "measurements", "decode", "seconds_median")
        r = h / x if h and x else None
        out.append((f"Greedy decode batch 1, 32 + 128 tokens, {short} (s)", fmt(h, " s"), fmt(x, " s"),
                    fmt(r, "x faster") if r else "—", f">= {TARGET_DECODE_SPEEDUP:g}x faster",
                    verdict(None if r is None else r >= TARGET_DECODE_SPEEDUP)))
    for d, short in (("bfloat16", "bf16"), ("float16", "fp16")):
        h = get(hf[d], "measurements", "suite", "seconds_median")
        x = get(q[d], "measurements", "suite", "seconds_median")
        r = h / x if h and x else None
        out.append((f"96-prompt suite batched, 128 new tokens each, {short} (s)", fmt(h, " s"), fmt(x, " s"),
                    fmt(r, "x faster") if r else "—", f"qrun <= {TARGET_SUITE_SECONDS:g} s",
                    verdict(None if x is None else x <= TARGET_SUITE_SECONDS)))
    base = q["float16"]
    for quant in ("int8", "nf4"):
        # perplexity time per token ratio = fp16 tokens/s / quantized tokens/s
        f = get(base, "measurements", "ppl", "tokens_per_s")
        x = get(q[quant], "measurements", "ppl", "tokens_per_s")
        r = f / x if f and x else None
        out.append((f"{quant} perplexity time vs qrun fp16 (tokens/s)", "— (no bitsandbytes)", f"{fmt(x)} vs {fmt(f)}",
                    fmt(r, "x the fp16 time") if r else "—", f"<= {TARGET_QUANT_SLOWDOWN:g}x",
                    verdict(None if r is None else r <= TARGET_QUANT_SLOWDOWN)))
        f = get(base, "measurements", "decode", "seconds_median")
        x = get(q[quant], "measurements", "decode", "seconds_median")
        r = x / f if f and x else None
        out.append((f"{quant} decode time vs qrun fp16 (s)", "— (no bitsandbytes)", f"{fmt(x, ' s')} vs {fmt(f, ' s')}",
                    fmt(r, "x the fp16 time") if r else "—", f"<= {TARGET_QUANT_SLOWDOWN:g}x",
                    verdict(None if r is None else r <= TARGET_QUANT_SLOWDOWN)))
    out.append(("experiments/seed_study.toml end to end (s)", "—", "not measured by bench.sh", "—", "<= 60 s", "n/a"))
    return hf, q, out


def checks(hf, q):
    """Same work on both sides: perplexity values, prompt lengths, decode prompt, device."""
    lines = []
    for d in ("bfloat16", "float16"):
        h, x = get(hf[d], "measurements", "ppl", "ppl"), get(q[d], "measurements", "ppl", "ppl")
        if h and x:
            lines.append(f"- {d} perplexity (chunks): transformers {h:.6g}, qrun {x:.6g} (relative difference "
                         f"{abs(x - h) / h:.2e}; same windows: {get(hf[d], 'measurements', 'ppl', 'windows')} vs "
                         f"{get(q[d], 'measurements', 'ppl', 'windows')})")
        hp, xp = get(hf[d], "measurements", "decode", "prompt_ids"), get(q[d], "measurements", "decode", "prompt_ids")
        if hp and xp:
            lines.append(f"- {d} decode prompt ids identical: {hp == xp}")
        hs, xs = get(hf[d], "measurements", "suite"), get(q[d], "measurements", "suite")
        if hs and xs:
            lines.append(f"- {d} suite prompt tokens (min/max): transformers {hs['prompt_tokens_min']}/"
                         f"{hs['prompt_tokens_max']}, qrun {xs['prompt_tokens_min']}/{xs['prompt_tokens_max']}")
    for name, doc in list(("transformers " + k, v) for k, v in hf.items()) + list(("qrun " + k, v) for k, v in q.items()):
        if doc:
            versions = (f"torch {doc.get('torch_version')}, transformers {doc.get('transformers_version')}"
                        if doc.get("tool") == "hf_speed.py" else
                        f"qrun {doc.get('qrun_version')}, libtorch {doc.get('torch_version')}, compute "
                        f"{doc.get('compute_dtype')}, transforms {[t['use'] for t in doc.get('transforms', [])]}")
            lines.append(f"- {name}: {doc.get('device_name')}, {doc.get('date_utc')}, {versions}")
    devices = {doc.get("device_name") for doc in list(hf.values()) + list(q.values()) if doc}
    if len(devices) > 1:
        lines.append(f"- **WARNING: results come from different devices: {sorted(devices)}**")
    return lines


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: speed_table.py RESULTS_DIR [OUT.md]")
    hf, q, table = rows(sys.argv[1])
    md = ["| target | transformers | qrun | ratio | goal | verdict |", "|---|---|---|---|---|---|"]
    md += ["| " + " | ".join(r) + " |" for r in table]
    md += ["", "Checks (same work on both sides):"] + checks(hf, q)
    text = "\n".join(md) + "\n"
    print(text, end="")
    if len(sys.argv) == 3:
        tmp = sys.argv[2] + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, sys.argv[2])


if __name__ == "__main__":
    main()
