#!/usr/bin/env python3
"""GPU parity: qrun's hf backend vs transformers on a random model with the exact Qwen2.5-0.5B
configuration (hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864, vocab 151936, tied).

  python3 bench/reference/gpu_parity.py ASSETS_DIR QRUN_DUMP_LOGITS OUT.json

The model (random_qwen05.py): Qwen2ForCausalLM(config) under torch.manual_seed(0) (transformers'
default init, N(0, 0.02)), every 2-D weight multiplied by 3 so that logits are far from uniform,
saved in bfloat16 with the Qwen2.5 tokenizer files of ASSETS_DIR/models/tiny-qwen2. Input: the first
2 x 512 Qwen2.5 tokens of wiki.test.raw. transformers runs in float32 (eager, TF32 off) as the
reference and in bfloat16/float16 (sdpa); qrun runs in float32/bfloat16/float16 on CUDA.
Tolerance rule: in 16-bit, qrun's distance to the float32 reference must not exceed 1.5x
transformers' own distance to it (both differ from fp32 only by rounding/accumulation order),
and argmax agreement with transformers must be >= 99 %. In float32, max |diff| <= 1e-3.
"""
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from random_qwen05 import make_random_qwen05  # noqa: E402  (the model construction, shared with bench.sh)


def stats(a, b):
    d = (a.float() - b.float()).abs()
    return {"max_abs": d.max().item(), "mean_abs": d.mean().item(),
            "argmax_agree": (a.argmax(-1) == b.argmax(-1)).float().mean().item()}


def main():
    assets, dump, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    folder = make_random_qwen05(f"{assets}/models/tiny-qwen2", "/tmp/qwen05-random")
    raw = open(f"{assets}/datasets/wikitext-2-raw/wiki.test.raw", encoding="utf-8", newline="").read()
    ids = Tokenizer.from_file(f"{folder}/tokenizer.json").encode(raw[:20000], add_special_tokens=False).ids
    input_ids = torch.tensor(ids[:1024], dtype=torch.int64).view(2, 512)
    save_file({"input_ids": input_ids}, "/tmp/ids.safetensors")

    hf = {}
    for name, dtype, attn in (("float32", torch.float32, "eager"), ("bfloat16", torch.bfloat16, "sdpa"),
                              ("float16", torch.float16, "sdpa")):
        m = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attn).cuda().eval()
        with torch.no_grad():
            hf[name] = m(input_ids.cuda()).logits.float().cpu()
        del m
        torch.cuda.empty_cache()
    ref = hf["float32"]
    result = {"config": "Qwen2.5-0.5B shape, random (seed 0, x3)", "input": "2 x 512 wiki.test.raw tokens",
              "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "transformers": __import__("transformers").__version__, "dtypes": {}}
    ok = True
    for name in ("float32", "bfloat16", "float16"):
        subprocess.run([dump, folder, name, "cuda", "/tmp/ids.safetensors", f"/tmp/qrun_{name}.safetensors"],
                       check=True)
        q = load_file(f"/tmp/qrun_{name}.safetensors")["logits"]
        entry = {"qrun_vs_hf_same_dtype": stats(q, hf[name]), "qrun_vs_hf_fp32": stats(q, ref),
                 "hf_vs_hf_fp32": stats(hf[name], ref)}
        if name == "float32":
            entry["pass"] = entry["qrun_vs_hf_same_dtype"]["max_abs"] <= 1e-3
        else:
            entry["pass"] = (entry["qrun_vs_hf_fp32"]["mean_abs"] <= 1.5 * entry["hf_vs_hf_fp32"]["mean_abs"]
                             and entry["qrun_vs_hf_same_dtype"]["argmax_agree"] >= 0.99)
        ok = ok and entry["pass"]
        result["dtypes"][name] = entry
    result["pass"] = ok
    print(json.dumps(result, indent=1))
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
