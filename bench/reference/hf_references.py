#!/usr/bin/env python3
"""Reference numbers from Hugging Face transformers/tokenizers for qrun's golden tests.

Runs on the GPU machine (transformers 5.x, tokenizers 0.23, torch 2.x). Usage:
  python3 bench/reference/hf_references.py ASSETS_DIR OUT.json
ASSETS_DIR holds models/{tiny-qwen2,stories260K} and datasets/wikitext-2-raw/wiki.test.raw
(a copy of ../shared). Prints and writes:
  * sha256 of the Qwen2.5 / stories260K token ids of the whole wiki.test.raw (ids as little-endian
    int32), as `tokenizers.Tokenizer.encode(text, add_special_tokens=False)` gives them;
  * WikiText-2 perplexity by the Hugging Face perplexity doc's sliding-window procedure
    (https://huggingface.co/docs/transformers/perplexity): rows joined with "\n\n", tokenized once
    with the AutoTokenizer (special tokens added as the tokenizer does by default), windows of
    max_length with stride, labels before the window's new tokens set to -100. Two reductions are
    recorded: `doc_ppl` exactly as the doc's loop weights each window's mean loss
    (by num_valid_tokens - batch_size), and `exact_ppl` = exp(sum of every scored token's NLL /
    number of scored tokens), both from float32 logits with float64 sums.
"""
import hashlib
import json
import sys
import time

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer


def hf_rows(raw: str):
    # HF wikitext-2-raw-v1 test rows: the file's lines with their newline kept, except that
    # whitespace-only lines become empty strings (see shared/README.md).
    rows = []
    for line in raw.splitlines(keepends=True):
        rows.append("" if line.strip() == "" else line)
    return rows


def ids_sha256(ids):
    return hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest()


def sliding_ppl(model, ids, max_length, stride, device):
    seq_len = ids.size(1)
    doc_nll_sum, doc_n = 0.0, 0
    exact_sum, exact_n = 0.0, 0
    prev_end = 0
    windows = 0
    for begin in range(0, seq_len, stride):
        end = min(begin + max_length, seq_len)
        trg_len = end - prev_end
        input_ids = ids[:, begin:end].to(device)
        target = input_ids.clone()
        target[:, :-trg_len] = -100
        with torch.no_grad():
            logits = model(input_ids).logits.float()
        # transformers' causal LM loss: shift, cross entropy (mean over labels != -100).
        shift_logits = logits[:, :-1, :]
        shift_labels = target[:, 1:]
        logp = torch.log_softmax(shift_logits.double(), dim=-1)
        mask = shift_labels != -100
        tok_nll = -logp[mask].gather(-1, shift_labels[mask].unsqueeze(-1)).squeeze(-1)
        loss = tok_nll.mean().item()
        num_valid = (target != -100).sum().item()
        num_loss_tokens = num_valid - target.size(0)
        doc_nll_sum += loss * num_loss_tokens
        doc_n += num_loss_tokens
        exact_sum += tok_nll.sum().item()
        exact_n += tok_nll.numel()
        windows += 1
        prev_end = end
        if end == seq_len:
            break
    return {
        "max_length": max_length, "stride": stride, "tokens_in_text": seq_len, "windows": windows,
        "doc_ppl": float(np.exp(doc_nll_sum / doc_n)), "doc_n_tokens": doc_n,
        "exact_ppl": float(np.exp(exact_sum / exact_n)), "exact_n_tokens": exact_n,
        "exact_nll_sum": exact_sum,
    }


def main():
    assets, out_path = sys.argv[1], sys.argv[2]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    raw = open(f"{assets}/datasets/wikitext-2-raw/wiki.test.raw", encoding="utf-8", newline="").read()
    joined = "\n\n".join(hf_rows(raw))
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
           "transformers": __import__("transformers").__version__, "tokenizers": __import__("tokenizers").__version__,
           "models": {}}
    for name, max_length, stride in (("stories260K", 512, 256), ("tiny-qwen2", 1024, 512)):
        folder = f"{assets}/models/{name}"
        tok = Tokenizer.from_file(f"{folder}/tokenizer.json")
        raw_ids = tok.encode(raw, add_special_tokens=False).ids
        auto = AutoTokenizer.from_pretrained(folder)
        joined_ids = auto(joined, return_tensors="pt").input_ids
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                     attn_implementation="eager").to(device).eval()
        t0 = time.time()
        ppl = sliding_ppl(model, joined_ids, max_length, stride, device)
        entry = {
            "raw_file_ids": {"count": len(raw_ids), "sha256_int32le": ids_sha256(raw_ids),
                             "first": raw_ids[:16], "last": raw_ids[-16:]},
            "hf_joined_ids": {"count": joined_ids.size(1), "sha256_int32le": ids_sha256(joined_ids[0].tolist()),
                              "first": joined_ids[0, :16].tolist()},
            "sliding": ppl, "seconds": time.time() - t0,
        }
        out["models"][name] = entry
        print(name, json.dumps(entry, indent=1), flush=True)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
