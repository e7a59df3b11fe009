#!/usr/bin/env python3
"""GPU parity of qrun's hf backend with transformers at the published shapes of issue 13's families.

For each family: a random model with the family's published config.json (transcribed below, in the
transformers-4 form the hub carries), made by transformers on the GPU under torch.manual_seed(0)
(its default init, every 2-D weight x3 so that logits are far from uniform, 1-D weights (norms,
biases) given N(0, 0.1) noise so that none is a trivial identity), saved in bfloat16 in 2 GB
shards (so the 8B models also check model.safetensors.index.json). Then:
  1. transformers bfloat16 logits of input_ids [2, T] (random ids, seed 0), attention as the
     family's users get it (sdpa; eager for Gemma 2, whose attention soft-capping transformers'
     sdpa path drops and qrun computes);
  2. transformers greedy decoding of 32 tokens from the first 16 ids of row 0 (no stop token);
  3. transformers float32 eager logits (TF32 off) of the same ids as the reference;
  4. `qrun logits` on the same folder and ids in bfloat16 and float32 on CUDA, and on the greedy
     sequence (prompt + 32 tokens, teacher-forced: qrun's argmax after each prefix must be the
     token transformers chose there).
Pass rule (as bench/reference/gpu_parity.py): bfloat16 bit-identical, or qrun's mean |diff| to the
float32 reference at most 1.5x transformers' own and argmax agreement with transformers >= 99 %;
float32 max |diff| <= 1e-3 x (1 + max |logit|); the 32 teacher-forced argmaxes equal transformers'
greedy tokens wherever transformers' own full forward reproduces them.

Usage (GPU machine, repository root; qrun built by bench/gpu/build.sh; TOKENIZER_DIR: any folder
with tokenizer.json and tokenizer_config.json, e.g. .gpu-assets/models/tiny-qwen2: the ids are
random, the tokenizer only has to load):
  python3 bench/reference/arch_parity.py --family llama-3.2-1b --qrun build-gpu/bin/qrun \\
      --tokenizer .gpu-assets/models/tiny-qwen2 --work /tmp/arch-parity --out bench/results/arch_parity.json
  --family all runs the eight of the issue in turn (phi-3-mini-128k-longrope: by name) (results appended per family to --out); --tokens T (default
  512), --keep keeps the model folders (default: deleted after each family to save disk).
Speed (optional, --bench build-gpu/bin/qrun_bench --wikitext wiki.test.raw [--tokenizers DIR]): after the
parity checks, qrun_bench and bench/reference/hf_speed.py on the same folder in bfloat16: perplexity
(chunks of 2048 tokens, batch 4, the first --ppl-windows chunks of WikiText-2 test) tokens/s and greedy
decoding ms/token (batch 1, 32-token wiki prompt, exactly 64 new tokens); median of 2 runs after a
warm-up. The text needs a real tokenizer whose ids fit the model's vocabulary: --tokenizers DIR holds
llama3_1/, qwen3/, gemma3/, llama2/ (the npm tokenizers); TOKENIZER_OF says which family uses which
(Gemma 2 and Mistral v0.3 / Phi-3 take Llama 2's 32000-piece one, whose ids fit their vocabularies).
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM

# The published config.json of each family (hub, transformers-4 form), fields that shape the model.
COMMON_LLAMA3 = dict(architectures=["LlamaForCausalLM"], model_type="llama", attention_bias=False, mlp_bias=False,
                     hidden_act="silu", rms_norm_eps=1e-05, rope_theta=500000.0, vocab_size=128256,
                     max_position_embeddings=131072, bos_token_id=128000, eos_token_id=128001, head_dim=None)
CONFIGS = {
    "llama-3.2-1b": dict(COMMON_LLAMA3, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64, tie_word_embeddings=True,
                         rope_scaling={"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                       "original_max_position_embeddings": 8192, "rope_type": "llama3"}),
    "llama-3.1-8b": dict(COMMON_LLAMA3, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                         rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                       "original_max_position_embeddings": 8192, "rope_type": "llama3"}),
    "qwen3-0.6b": dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=1024,
                       intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                       head_dim=128, attention_bias=False, hidden_act="silu", max_position_embeddings=40960,
                       max_window_layers=28, rms_norm_eps=1e-06, rope_scaling=None, rope_theta=1000000,
                       sliding_window=None, use_sliding_window=False, tie_word_embeddings=True, vocab_size=151936,
                       bos_token_id=151643, eos_token_id=151645),
    "qwen3-8b": dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=4096, intermediate_size=12288,
                     num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                     attention_bias=False, hidden_act="silu", max_position_embeddings=40960, max_window_layers=36,
                     rms_norm_eps=1e-06, rope_scaling=None, rope_theta=1000000, sliding_window=None,
                     use_sliding_window=False, tie_word_embeddings=False, vocab_size=151936, bos_token_id=151643,
                     eos_token_id=151645),
    "gemma-2-2b": dict(architectures=["Gemma2ForCausalLM"], model_type="gemma2", hidden_size=2304,
                       intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                       head_dim=256, attention_bias=False, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                       hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh",
                       max_position_embeddings=8192, query_pre_attn_scalar=256, rms_norm_eps=1e-06, rope_theta=10000.0,
                       sliding_window=4096, vocab_size=256000, bos_token_id=2, eos_token_id=1, pad_token_id=0),
    "gemma-3-1b": dict(architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", hidden_size=1152,
                       intermediate_size=6912, num_hidden_layers=26, num_attention_heads=4, num_key_value_heads=1,
                       head_dim=256, attention_bias=False, attn_logit_softcapping=None, final_logit_softcapping=None,
                       hidden_activation="gelu_pytorch_tanh", max_position_embeddings=32768, query_pre_attn_scalar=256,
                       rms_norm_eps=1e-06, rope_local_base_freq=10000, rope_scaling=None, rope_theta=1000000,
                       sliding_window=512, sliding_window_pattern=6, vocab_size=262144, bos_token_id=2, eos_token_id=1,
                       pad_token_id=0),
    "phi-3-mini-4k": dict(architectures=["Phi3ForCausalLM"], model_type="phi3", hidden_size=3072,
                          intermediate_size=8192, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                          hidden_act="silu", max_position_embeddings=4096, original_max_position_embeddings=4096,
                          rms_norm_eps=1e-05, rope_scaling=None, rope_theta=10000.0, sliding_window=2047,
                          tie_word_embeddings=False, vocab_size=32064, bos_token_id=1, eos_token_id=32000,
                          pad_token_id=32000),
    "mistral-7b-v0.3": dict(architectures=["MistralForCausalLM"], model_type="mistral", hidden_size=4096,
                            intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                            num_key_value_heads=8, hidden_act="silu", max_position_embeddings=32768,
                            rms_norm_eps=1e-05, rope_theta=1000000.0, sliding_window=None, tie_word_embeddings=False,
                            vocab_size=32768, bos_token_id=1, eos_token_id=2),
}
# Not in the issue's list: Phi-3-mini-128k's shape and LongRoPE, with made-up factor lists (48 each;
# the published ones are not transcribed here). Its long factors apply past 4096 tokens: run it with
# --tokens 4608 to compare them (shorter inputs compare the short factors only).
CONFIGS["phi-3-mini-128k-longrope"] = dict(
    CONFIGS["phi-3-mini-4k"], max_position_embeddings=131072, sliding_window=262144,
    rope_scaling={"type": "longrope", "short_factor": [1.0 + 0.02 * i for i in range(48)],
                  "long_factor": [1.0 + 0.5 * i for i in range(48)]})
ISSUE_FAMILIES = [f for f in CONFIGS if f != "phi-3-mini-128k-longrope"]
ATTN = {"gemma-2-2b": "eager"}  # transformers' sdpa ignores Gemma 2's attn_logit_softcapping
PROMPT, NEW = 16, 32
TOKENIZER_OF = {"llama-3.2-1b": "llama3_1", "llama-3.1-8b": "llama3_1", "qwen3-0.6b": "qwen3", "qwen3-8b": "qwen3",
                "gemma-2-2b": "llama2", "gemma-3-1b": "gemma3", "phi-3-mini-4k": "llama2", "mistral-7b-v0.3": "llama2",
                "phi-3-mini-128k-longrope": "llama2"}
HERE = os.path.dirname(os.path.abspath(__file__))


def build(family, folder, tokenizer_dir):
    """Writes the published config, builds the random model from it on the GPU, saves it in bfloat16
    (config.json stays the published one: transformers and qrun both convert it themselves)."""
    os.makedirs(folder, exist_ok=True)
    cfg = dict(CONFIGS[family], torch_dtype="bfloat16")
    with open(f"{folder}/config.json", "w") as f:
        json.dump(cfg, f, indent=2)
    config = AutoConfig.from_pretrained(folder)  # the loader path a user's checkpoint takes
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(3.0)
            elif p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder, max_shard_size="2GB")
    del model
    torch.cuda.empty_cache()
    with open(f"{folder}/config.json", "w") as f:  # both sides read the hub's form, not the one saved
        json.dump(cfg, f, indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{tokenizer_dir}/{f}", f"{folder}/{f}")


def hf_run(family, folder, input_ids, dtype, attn):
    """transformers' logits (float32, CPU) of input_ids; in bfloat16 also the greedy tokens."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attn).cuda().eval()
    out = {}
    with torch.no_grad():
        out["logits"] = model(input_ids.cuda()).logits.float().cpu()
        if dtype == torch.bfloat16:
            gen = copy.deepcopy(model.generation_config)
            gen.do_sample, gen.max_new_tokens, gen.eos_token_id = False, NEW, None  # no stop: 32 argmax tokens
            seq = model.generate(input_ids[:1, :PROMPT].cuda(), generation_config=gen, pad_token_id=0).cpu()
            out["greedy"] = seq
            out["greedy_logits"] = model(seq.cuda()).logits.float().cpu()  # transformers' own teacher forcing
    del model
    torch.cuda.empty_cache()
    return out


def qrun_logits(qrun, folder, ids_file, out_file, dtype):
    subprocess.run([qrun, "logits", "--model", folder, "--input", ids_file, "--out", out_file, "--dtype", dtype,
                    "--device", "cuda"], check=True)
    return load_file(out_file)["logits"]


def stats(a, b):
    d = (a.float() - b.float()).abs()
    return {"max_abs": d.max().item(), "mean_abs": d.mean().item(), "bit_identical": bool(torch.equal(a, b)),
            "argmax_agree": (a.argmax(-1) == b.argmax(-1)).float().mean().item()}


def speed(family, folder, args):
    """qrun_bench and hf_speed.py (bfloat16, CUDA) on the folder: perplexity tokens/s, decode ms/token."""
    common = ["--wikitext", args.wikitext, "--ppl-ctx", "2048", "--ppl-batch", "4", "--ppl-windows",
              str(args.ppl_windows), "--decode-prompt", "32", "--decode-new", "64", "--repeats", "2",
              "--what", "ppl,decode"]
    out = {}
    for side, cmd in (("qrun", [args.bench, "--model", folder, "--device", "cuda", "--dtype", "bfloat16"]),
                      ("hf", [sys.executable, f"{HERE}/hf_speed.py", "--model", folder, "--device", "cuda",
                              "--dtype", "bfloat16"])):
        path = f"{args.work}/{family}-speed-{side}.json"
        done = subprocess.run(cmd + common + ["--json", path], capture_output=True, text=True)
        if done.returncode != 0:
            out[side] = {"error": (done.stderr or done.stdout)[-2000:]}
            continue
        m = json.load(open(path))["measurements"]
        dec = m["decode"]
        out[side] = {"ppl": m["ppl"]["ppl"], "ppl_tokens_per_s": m["ppl"]["tokens_per_s"],
                     "ppl_windows": m["ppl"].get("windows"),
                     "decode_ms_per_token": 1000.0 * dec["seconds_median"] / dec["new_tokens"],
                     "decode_first_tokens": dec["first_prompt_first_tokens"]}
    return out


def run_family(family, args):
    folder = f"{args.work}/{family}"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    tokenizer = f"{args.tokenizers}/{TOKENIZER_OF[family]}" if args.tokenizers else args.tokenizer
    build(family, folder, tokenizer)
    vocab = CONFIGS[family]["vocab_size"]
    input_ids = torch.randint(0, vocab, (2, args.tokens), generator=torch.Generator().manual_seed(0))
    ids_file = f"{args.work}/{family}-ids.safetensors"
    save_file({"input_ids": input_ids.contiguous()}, ids_file)
    attn = ATTN.get(family, "sdpa")
    hf_bf16 = hf_run(family, folder, input_ids, torch.bfloat16, attn)
    hf_fp32 = hf_run(family, folder, input_ids, torch.float32, "eager")["logits"]
    greedy_file = f"{args.work}/{family}-greedy.safetensors"
    save_file({"input_ids": hf_bf16["greedy"].contiguous()}, greedy_file)

    q_bf16 = qrun_logits(args.qrun, folder, ids_file, f"{args.work}/{family}-qrun-bf16.safetensors", "bfloat16")
    q_fp32 = qrun_logits(args.qrun, folder, ids_file, f"{args.work}/{family}-qrun-fp32.safetensors", "float32")
    q_greedy = qrun_logits(args.qrun, folder, greedy_file, f"{args.work}/{family}-qrun-greedy.safetensors", "bfloat16")

    tokens = hf_bf16["greedy"][0, PROMPT:]
    hf_tf = hf_bf16["greedy_logits"][0, PROMPT - 1:-1].argmax(-1)
    q_tf = q_greedy[0, PROMPT - 1:-1].argmax(-1)
    reproducible = hf_tf == tokens  # where transformers' full forward gives its own cached-decode token
    r = {"family": family, "attention": attn, "tokens": list(input_ids.shape),
         "bf16": {"qrun_vs_hf": stats(q_bf16, hf_bf16["logits"]), "qrun_vs_fp32_ref": stats(q_bf16, hf_fp32),
                  "hf_vs_fp32_ref": stats(hf_bf16["logits"], hf_fp32)},
         "fp32": {"qrun_vs_hf": stats(q_fp32, hf_fp32), "max_abs_logit": hf_fp32.abs().max().item()},
         "greedy": {"hf_tokens": tokens.tolist(), "qrun_teacher_forced": q_tf.tolist(),
                    "hf_teacher_forced": hf_tf.tolist(),
                    "qrun_equal_where_hf_reproduces": bool(((q_tf == tokens) | ~reproducible).all()),
                    "qrun_equal_hf_teacher_forced": bool((q_tf == hf_tf).all())}}
    b = r["bf16"]
    r["pass"] = {
        "bf16": b["qrun_vs_hf"]["bit_identical"] or (
            b["qrun_vs_fp32_ref"]["mean_abs"] <= 1.5 * b["hf_vs_fp32_ref"]["mean_abs"]
            and b["qrun_vs_hf"]["argmax_agree"] >= 0.99),
        "fp32": r["fp32"]["qrun_vs_hf"]["max_abs"] <= 1e-3 * (1 + r["fp32"]["max_abs_logit"]),
        "greedy": r["greedy"]["qrun_equal_where_hf_reproduces"]}
    r["pass"]["all"] = all(r["pass"].values())
    if args.bench:
        r["tokenizer"] = os.path.basename(tokenizer.rstrip("/"))
        r["speed"] = speed(family, folder, args)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return r


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", required=True, help="one of %s, or all" % ", ".join(CONFIGS))
    p.add_argument("--qrun", required=True, help="the qrun executable (CUDA build)")
    p.add_argument("--tokenizer", help="folder with tokenizer.json and tokenizer_config.json")
    p.add_argument("--work", default="/tmp/arch-parity", help="scratch folder (models, ids, logits)")
    p.add_argument("--out", required=True, help="results JSON (a list, one entry per family)")
    p.add_argument("--tokens", type=int, default=512, help="tokens per row of the logits input")
    p.add_argument("--keep", action="store_true", help="keep the model folders")
    p.add_argument("--tokenizers", help="folder with llama3_1/ qwen3/ gemma3/ llama2/ (used instead of --tokenizer)")
    p.add_argument("--bench", help="qrun_bench executable: also measure speed (needs --wikitext)")
    p.add_argument("--wikitext", help="wiki.test.raw, for --bench")
    p.add_argument("--ppl-windows", type=int, default=8, help="perplexity chunks timed with --bench")
    args = p.parse_args()
    if not (args.tokenizer or args.tokenizers):
        sys.exit("--tokenizer: missing; fix: name a folder with tokenizer.json, or --tokenizers")
    if args.bench and not args.wikitext:
        sys.exit("--bench: needs the text; fix: add --wikitext wiki.test.raw")
    families = ISSUE_FAMILIES if args.family == "all" else [args.family]
    unknown = [f for f in families if f not in CONFIGS]
    if unknown:
        sys.exit(f"--family: unknown {unknown}; use one of {', '.join(CONFIGS)} or all")
    os.makedirs(args.work, exist_ok=True)
    results = json.load(open(args.out)) if os.path.exists(args.out) else []
    meta = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "transformers": __import__("transformers").__version__}
    ok = True
    for family in families:
        r = dict(run_family(family, args), **meta)
        print(json.dumps(r, indent=1), flush=True)
        results = [x for x in results if x.get("family") != family] + [r]
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
        ok = ok and r["pass"]["all"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
