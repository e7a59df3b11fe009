#!/usr/bin/env python3
"""Extracts the chat-template cases of llama.cpp's tests/test-chat-template.cpp into JSON data.

Usage (from the repository root; the C++ file comes from a llama.cpp checkout):
    git -C LLAMA_CPP show COMMIT:tests/test-chat-template.cpp > /tmp/test-chat-template.cpp
    python3 tests/golden/chat_templates/extract_llama_cpp_cases.py /tmp/test-chat-template.cpp COMMIT \
        > tests/golden/chat_templates/llama_cpp_cases.json

What each case of the output holds, and why (see README.md beside this file):
  template, bos_token, eos_token, add_generation_prompt (true: the C++ test's constant),
  expected: expected_output_jinja when the C++ case has one, else expected_output (the C++ test's rule);
  messages: the conversation the C++ test renders, after the one transformation llama.cpp's jinja path
    (minja's chat_template::apply) makes for these plain conversations: a template that does not
    render a system message (its "supports_system_role" probe) gets the system text merged into the
    first user message ("system\\nuser"). The probe is repeated here with jinja2 in transformers'
    environment (trim_blocks, lstrip_blocks); jinja2 is needed only to run this script;
  strip_bos_eos: true; llama.cpp removes one leading bos_token and one trailing eos_token from the
    rendered text (common/chat.cpp, apply()), so a consumer does the same before comparing.
Cases the C++ test itself skips for jinja (supported_with_jinja = false) are listed under "skipped".
Where jinja2 (transformers' engine) renders a case otherwise than llama.cpp expects, the case also
gets "expected_jinja2" (that render, stripped the same way): llama.cpp's own engine (minja) differs
from jinja2 there, and qrun follows transformers. hf_renders.json (from transformers itself)
settles it for every case.
"""
import json
import re
import sys

CONVERSATION = [
    ("system", "You are a helpful assistant"),
    ("user", "Hello"),
    ("assistant", "Hi there"),
    ("user", "Who are you"),
    ("assistant", "   I am an assistant   "),
    ("user", "Another question"),
]

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def parse_literal(src, pos):
    """Parses a run of adjacent C++ string literals ("..." or u8"...") starting at pos."""
    out = []
    while True:
        m = re.compile(r'\s*(?:U8C\()?(u8)?"').match(src, pos)
        if not m:
            break
        i = m.end()
        while src[i] != '"':
            if src[i] == "\\":
                out.append(ESCAPES[src[i + 1]])
                i += 2
            else:
                out.append(src[i])
                i += 1
        pos = i + 1
        if src.startswith(")", pos) and m.group(0).lstrip().startswith("U8C("):
            pos += 1
    return "".join(out), pos


def parse_cases(src):
    body = src[src.index("std::vector<TestCase> test_cases {"):]
    cases = []
    for block in re.finditer(r"\{\s*/\* \.name= \*/", body):
        case = {}
        pos = block.start()
        end = body.index("\n        },", pos)
        for field in re.finditer(r"/\* \.(\w+)= \*/", body[pos:end]):
            name = field.group(1)
            at = pos + field.end()
            if name == "supported_with_jinja":
                case[name] = body[at:at + 10].strip().startswith("true")
            else:
                case[name], _ = parse_literal(body, at)
        cases.append(case)
    return cases


def render(env, template, messages, bos, eos, add_generation_prompt):
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                            bos_token=bos, eos_token=eos, tools=None, documents=None)


def supports_system_role(env, template, bos, eos):
    probe = [{"role": "system", "content": "<System Needle>"}, {"role": "user", "content": "<User Needle>"}]
    try:
        return "<System Needle>" in render(env, template, probe, bos, eos, False)
    except Exception:  # minja's probe counts a failed render as "does not render it"
        return False


def merge_system_into_user(messages):
    out, pending = [], ""
    for m in messages:
        if m["role"] == "system":
            pending = pending + "\n" + m["content"] if pending else m["content"]
            continue
        if m["role"] == "user" and pending:
            m = {"role": "user", "content": pending + ("\n" + m["content"] if m["content"] else "")}
            pending = ""
        elif pending:
            out.append({"role": "user", "content": pending})
            pending = ""
        out.append(m)
    if pending:
        out.append({"role": "user", "content": pending})
    return out


def main():
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    src_file, commit = sys.argv[1], sys.argv[2]
    src = open(src_file, encoding="utf-8").read()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = lambda message: (_ for _ in ()).throw(jinja2.exceptions.TemplateError(message))
    conversation = [{"role": r, "content": c} for r, c in CONVERSATION]
    cases, skipped = [], []
    for c in parse_cases(src):
        bos, eos = c.get("bos_token", ""), c.get("eos_token", "")
        if not c.get("supported_with_jinja", True):
            skipped.append({"name": c["name"], "reason": "the C++ test skips it for jinja (supported_with_jinja = false)"})
            continue
        polyfill = not supports_system_role(env, c["template_str"], bos, eos)
        messages = merge_system_into_user(conversation) if polyfill else conversation
        expected = c["expected_output_jinja"] or c["expected_output"]
        rendered = render(env, c["template_str"], messages, bos, eos, True)
        if bos and rendered.startswith(bos):
            rendered = rendered[len(bos):]
        if eos and rendered.endswith(eos):
            rendered = rendered[:-len(eos)]
        cases.append({
            "name": c["name"],
            "template": c["template_str"],
            "messages": messages,
            "system_merged_into_user": polyfill,
            "add_generation_prompt": True,
            "bos_token": bos,
            "eos_token": eos,
            "strip_bos_eos": True,
            "expected": expected,
        })
        if rendered != expected:
            cases[-1]["expected_jinja2"] = rendered
    json.dump({"source": "ggml-org/llama.cpp tests/test-chat-template.cpp", "commit": commit, "license": "MIT",
               "cases": cases, "skipped": skipped}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
