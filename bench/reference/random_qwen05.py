"""A random model with the exact Qwen2.5-0.5B configuration, saved as a Hugging Face folder.

Shared by bench/reference/gpu_parity.py (logit parity) and bench/gpu/bench.sh (speed): hidden 896,
24 layers, 14 heads, 2 KV heads, intermediate 4864, vocab 151936, tied embeddings.
Qwen2ForCausalLM(config) under torch.manual_seed(0) (transformers' default init, N(0, 0.02)),
every 2-D weight multiplied by 3 so that logits are far from uniform, saved in bfloat16 with the
Qwen2.5 tokenizer files (tokenizer.json, tokenizer_config.json) of a given folder. Random weights
cost the same time as trained ones.

  python3 bench/reference/random_qwen05.py TOKENIZER_DIR OUT_DIR     (builds OUT_DIR)
"""
import shutil
import sys

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM


def qwen05_config():
    return Qwen2Config(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                       num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                       rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                       bos_token_id=151643, eos_token_id=151645)


def make_random_qwen05(tokenizer_dir, folder):
    """Builds the model (seed 0, 2-D weights x3), saves it in bfloat16 to `folder` with the
    tokenizer files of `tokenizer_dir`; returns `folder`."""
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(qwen05_config())
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(3.0)
    model.to(torch.bfloat16).save_pretrained(folder)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(f"{tokenizer_dir}/{f}", f"{folder}/{f}")
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: random_qwen05.py TOKENIZER_DIR OUT_DIR")
    print(make_random_qwen05(sys.argv[1], sys.argv[2]))
