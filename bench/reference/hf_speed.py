#!/usr/bin/env python3
"""transformers' side of issue 8's speed comparison: the loops a researcher typically writes,
timed the way bench/qrun_bench.cpp times qrun on the same model folder.

  python3 bench/reference/hf_speed.py --model DIR --dtype bfloat16|float16 --wikitext wiki.test.raw \
      --suite datasets/prompt_suite_96.json --json OUT.json [--device cuda] [--ppl-ctx 2048] \
      [--ppl-batch 8] [--ppl-windows N] [--decode-prompt 32] [--decode-new 128] [--suite-new 128] \
      [--repeats 3] [--what ppl,decode,suite]

Needs torch, transformers and tokenizers only (no accelerate, no bitsandbytes). The model is
AutoModelForCausalLM in the given dtype with attn_implementation="sdpa", moved to the device.
Each measurement: one warm-up run, then `repeats` timed runs (torch.cuda.synchronize on both
ends), median reported.
  ppl     llama.cpp chunks (as qrun's perplexity protocol "chunks"): the file's bytes decoded as
          UTF-8 and tokenized once without special tokens (timed apart), n = len // ctx chunks
          (the first --ppl-windows of them), --ppl-batch chunks per forward with labels, the first
          ctx//2 + 1 labels -100 so that the loss covers the second half (llama.cpp scores tokens
          ctx//2+1 .. ctx-1 of each chunk). tokens/s = chunks * ctx / loop seconds.
  decode  model.generate(ids, max_new_tokens=N, min_new_tokens=N, do_sample=False), batch 1; the
          prompt: the first --decode-prompt tokens of the file's first 4096 bytes (no special tokens).
  suite   every prompt of the suite as one user message through tokenizer.apply_chat_template
          (add_generation_prompt=True), left padding, one generate call for all of them, exactly
          N new tokens each (min_new_tokens = max_new_tokens).
"""
import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time

import tokenizers
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_runs(fn, repeats, device, label):
    """One warm-up call of fn, then `repeats` timed calls; returns (seconds list, last result)."""
    result = fn()
    seconds = []
    for run in range(1, repeats + 1):
        sync(device)
        t0 = time.perf_counter()
        result = fn()
        sync(device)
        seconds.append(time.perf_counter() - t0)
        print(f"{label} run {run}: {seconds[-1]:.4f} s", file=sys.stderr, flush=True)
    return seconds, result


def measure_ppl(model, tok, args, device):
    text = open(args.wikitext, "rb").read().decode("utf-8")
    t0 = time.perf_counter()
    ids = tok(text, add_special_tokens=False)["input_ids"]
    tokenize_seconds = time.perf_counter() - t0
    ctx = args.ppl_ctx
    n_chunk = len(ids) // ctx
    if n_chunk < 2:
        sys.exit(f"--wikitext: {len(ids)} tokens give fewer than 2 chunks of {ctx}; fix: use a smaller --ppl-ctx")
    if args.ppl_windows:
        if args.ppl_windows > n_chunk:
            sys.exit(f"--ppl-windows: asked for {args.ppl_windows} but the text gives {n_chunk} chunks; "
                     f"fix: use --ppl-windows {n_chunk} or 0 (all)")
        n_chunk = args.ppl_windows
    chunks = torch.tensor(ids[: n_chunk * ctx], dtype=torch.int64).view(n_chunk, ctx).to(device)
    first = ctx // 2

    def loop():
        nll_sum, n_scored = 0.0, 0
        with torch.inference_mode():
            for b in range(0, n_chunk, args.ppl_batch):
                input_ids = chunks[b:b + args.ppl_batch]
                labels = input_ids.clone()
                labels[:, : first + 1] = -100  # scored: labels first+1 .. ctx-1 (llama.cpp's second half)
                loss = model(input_ids=input_ids, labels=labels).loss  # mean NLL over scored labels
                n = int((labels[:, 1:] != -100).sum())
                nll_sum += float(loss.double()) * n  # float64 sum, as qrun
                n_scored += n
        return nll_sum, n_scored

    seconds, (nll_sum, n_scored) = timed_runs(loop, args.repeats, device, "ppl")
    sec = statistics.median(seconds)
    tokens = n_chunk * ctx
    return {
        "protocol": "chunks", "n_ctx": ctx, "batch_size": args.ppl_batch, "windows": n_chunk,
        "tokens_processed": tokens, "tokens_scored": n_scored, "ppl": math.exp(nll_sum / n_scored),
        "seconds_median": sec, "seconds_runs": seconds, "tokens_per_s": tokens / sec,
        "tokenize_seconds": tokenize_seconds, "tokens_per_s_incl_tokenize": tokens / (sec + tokenize_seconds),
        "method": "model(input_ids, labels) per batch of chunks under torch.inference_mode (the loss upcasts "
                  "logits to float32); tokens_per_s = chunks*ctx / median loop seconds (tokenization of the "
                  "whole file, done once, excluded; tokens_per_s_incl_tokenize adds it).",
    }


def measure_generate(model, tok, input_ids, attention_mask, new_tokens, args, device, label):
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)

    def run():
        with torch.inference_mode():
            return model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=new_tokens,
                                  min_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)

    seconds, out = timed_runs(run, args.repeats, device, label)
    generated = out.shape[1] - input_ids.shape[1]
    if generated != new_tokens:
        sys.exit(f"{label}: generate gave {generated} new tokens, not {new_tokens}")
    sec = statistics.median(seconds)
    lengths = attention_mask.sum(dim=1)
    return {
        "prompts": input_ids.shape[0], "prompt_tokens_min": int(lengths.min()), "prompt_tokens_max": int(lengths.max()),
        "new_tokens": new_tokens, "seconds_median": sec, "seconds_runs": seconds,
        "new_tokens_per_s": input_ids.shape[0] * new_tokens / sec,
        "first_prompt_first_tokens": out[0, input_ids.shape[1]:input_ids.shape[1] + 16].tolist(),
        "method": f"wall seconds of model.generate (greedy, batch {input_ids.shape[0]}, max_new_tokens = "
                  f"min_new_tokens = {new_tokens}, default dynamic KV cache), synchronised; median of the timed runs "
                  "after one warm-up.",
    }


def decode_prompt(tok, path, n):
    head = open(path, "rb").read(4096).decode("utf-8", errors="ignore")  # as qrun_bench: whole characters only
    ids = tok(head, add_special_tokens=False)["input_ids"]
    if len(ids) < n:
        sys.exit(f"--wikitext: its first 4096 bytes give {len(ids)} tokens, fewer than --decode-prompt {n}")
    return ids[:n]


def suite_batch(tok, path):
    suite = json.load(open(path, encoding="utf-8"))
    texts = [tok.apply_chat_template([{"role": "user", "content": p["prompt"]}], tokenize=False,
                                     add_generation_prompt=True) for p in suite["prompts"]]
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    enc = tok(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--wikitext")
    ap.add_argument("--suite")
    ap.add_argument("--json", required=True)
    ap.add_argument("--ppl-ctx", type=int, default=2048)
    ap.add_argument("--ppl-batch", type=int, default=8)
    ap.add_argument("--ppl-windows", type=int, default=0)
    ap.add_argument("--decode-prompt", type=int, default=32)
    ap.add_argument("--decode-new", type=int, default=128)
    ap.add_argument("--suite-new", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--what", default="ppl,decode,suite")
    args = ap.parse_args()
    what = args.what.split(",")
    for w in what:
        if w not in ("ppl", "decode", "suite"):
            ap.error(f"--what: {w!r} is not a measurement; use a comma-separated subset of ppl,decode,suite")
    if ("ppl" in what or "decode" in what) and not args.wikitext:
        ap.error("--wikitext is required by ppl and decode")
    if "suite" in what and not args.suite:
        ap.error("--suite is required by suite")

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    tok = AutoTokenizer.from_pretrained(args.model)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype, attn_implementation="sdpa").to(device).eval()
    sync(device)
    load_seconds = time.perf_counter() - t0
    out = {
        "tool": "hf_speed.py", "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_version": torch.__version__, "cuda_version": torch.version.cuda,
        "transformers_version": transformers.__version__, "tokenizers_version": tokenizers.__version__,
        "model": args.model, "dtype": args.dtype, "attn_implementation": "sdpa", "load_seconds": load_seconds,
        "warmup_runs": 1, "repeats": args.repeats, "measurements": {},
    }
    if "ppl" in what:
        out["measurements"]["ppl"] = measure_ppl(model, tok, args, device)
    if "decode" in what:
        ids = torch.tensor([decode_prompt(tok, args.wikitext, args.decode_prompt)], dtype=torch.int64)
        m = measure_generate(model, tok, ids, torch.ones_like(ids), args.decode_new, args, device, "decode")
        m["prompt_ids"] = ids[0].tolist()
        out["measurements"]["decode"] = m
    if "suite" in what:
        ids, mask = suite_batch(tok, args.suite)
        m = measure_generate(model, tok, ids, mask, args.suite_new, args, device, "suite")
        m["chat_template"] = True
        m["suite"] = args.suite
        out["measurements"]["suite"] = m
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, args.json)
    print(f"hf_speed.py: wrote {args.json}")


if __name__ == "__main__":
    main()
