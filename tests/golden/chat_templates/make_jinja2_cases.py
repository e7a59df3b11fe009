#!/usr/bin/env python3
"""Makes jinja2_cases.json: small templates, one Jinja construct each, rendered by jinja2 in the
environment transformers renders chat templates in (transformers' _compile_jinja_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker,
loopcontrols]), its tojson filter, raise_exception, strftime_now). qrun's interpreter must give the
same text, or fail where jinja2 fails (then "error" holds jinja2's exception, for reading only).

    python3 tests/golden/chat_templates/make_jinja2_cases.py > tests/golden/chat_templates/jinja2_cases.json

Needs jinja2 >= 3.1 (3.1.6 made the committed file). The whole templates (llama.cpp's collection,
the npm models) are checked against transformers itself: bench/reference/chat_template_goldens.py.
"""
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Generation(jinja2.ext.Extension):
    """transformers' AssistantTracker without the tracking: {% generation %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


M = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi  there\n"},
     {"role": "assistant", "content": "<think>\nplan\n</think>\n\nHello!"}, {"role": "user", "content": "Ünïcödé ✓ 日本"}]
CASES = [
 # whitespace control and environment settings
 ("{% if true %}\n  a\n{% endif %}\nb\n", {}),
 ("  {% if true %}\n  X\n  {% endif %}\n  Y", {}),
 ("a\n  {{ 1 }}\n  {# c #}\n  b", {}),
 ("{%- if true -%}  x  {%- endif -%}  \n y", {}),
 ("a  {{- 'b' -}}  c", {}),
 ("a\n  {%+ if true %}x{% endif +%}\nb", {}),
 ("line1\r\nline2\r\n{% if true %}\r\nz{% endif %}\n\n", {}),
 ("{# comment -#}   \n  after", {}),
 ("{% raw %}{{ not rendered }}{% endraw %}", {}),
 ("x{#- c #}  y", {}),
 ("{% for i in [1,2] %}\n    {{ i }}\n{% endfor %}\n", {}),
 ("\t{% set x = 1 %}\n\t{{ x }}", {}),
 # literals and output
 ("{{ none }}|{{ true }}|{{ 1.0 }}|{{ [1,'a',none, 2.5] }}|{{ {'a':1, 'b': [true]} }}|{{ (1,2) }}|{{ (1,) }}|{{ 1e16 }}|{{ 0.00001 }}|{{ 123.456 }}|{{ 1_000 }}", {}),
 ("{{ 'it''s' }}{{ \"a\\tb\\n\\u00e9\\x41\\\\\" }}{{ 'a' 'b' }}", {}),
 ("{{ [\"it's\", 'say \"x\"', 'both \\' \"', '\\n\\x01é'] }}", {}),
 ("{{ 0.1 + 0.2 }} {{ 1/3 }} {{ 2.5e-3 }} {{ -0.0 }} {{ 1e22 }} {{ 12345678901234567890.0 }}", {}),
 # arithmetic
 ("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 'ab' * 3 }} {{ 3 * [1] }}", {}),
 ("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + true }}", {}),
 ("{{ 'x' ~ 1 ~ none ~ [1] }} {{ 'a' + 'b' }} {{ [1] + [2] }}", {}),
 ("{{ 'a' + 1 }}", {}),
 ("{{ undefined_thing + 1 }}", {}),
 # comparisons and logic
 ("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ none == none }}", {}),
 ("{{ 'b' in 'abc' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 1 in [] }}", {}),
 ("{{ 1 and 'x' }} {{ 0 and 'x' }} {{ '' or 'y' }} {{ 'a' or 'y' }} {{ not none }} {{ not [] }} {{ x or 'dflt' }}", {}),
 ("{{ 'a' if true }}|{{ 'a' if false }}|{{ 'a' if false else 'b' if false else 'c' }}", {}),
 ("{{ 'yes' if x is defined else 'no' }} {{ 'yes' if messages is defined and messages else 'no' }}", {"messages": M}),
 ("{{ 1 < 'a' }}", {}),
 # variables, scoping, namespace
 ("{% set x = 1 %}{% for i in [1,2] %}{{ x }},{% set x = i+10 %}{{ x }};{% endfor %}{{ x }}", {}),
 ("{% for i in [1,2] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{% endfor %}[{{ y }}]", {}),
 ("{% if true %}{% set z = 5 %}{% endif %}{{ z }}", {}),
 ("{% set ns = namespace(found=false, n=0) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.found = true %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }}", {"messages": M}),
 ("{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c, d = 'xy' %}{{ c }}{{ d }}", {}),
 ("{% set t = 1, 2 %}{{ t }}", {}),
 ("{% set block %}  inner {{ 1 }} {% endset %}[{{ block }}]", {}),
 ("{% set block | trim | upper %}  inner {{ 1 }} {% endset %}[{{ block }}]", {}),
 ("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
 ("{% set x = 1 %}{% set x.y = 2 %}", {}),
 # for loops
 ("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {"messages": M}),
 ("{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}/{{ loop.length }} {% endfor %}", {"messages": M}),
 ("{% for x in [] %}a{% else %}empty{% endfor %}{% for x in [1] %}a{% else %}empty{% endfor %}", {}),
 ("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", {}),
 ("{% for c in 'héllo' %}{{ c }}.{% endfor %}", {}),
 ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
 ("{% for i in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}|{{ loop.cycle('a','b') }} {% endfor %}", {}),
 ("{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}{% endfor %}", {}),
 ("{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}|{% for m in messages[1:] %}{{ m.role[0] }}{% endfor %}|{% for m in messages[:-1] %}{{ m.role[0] }}{% endfor %}", {"messages": M}),
 ("{% for x in none %}{% endfor %}", {}),
 ("{% for x in undefined_list %}a{% else %}none{% endfor %}", {}),
 ("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {% for i in range(2) %}{{ i }}{% endfor %}", {}),
 # indexing, attributes, slicing
 ("{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[-1].content }} {{ messages[10] }}|{{ messages.x }}|{{ none.foo }}|{{ 'abc'.content }}", {"messages": M}),
 ("{{ 'hello'[1] }} {{ 'hello'[-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[::2] }} {{ 'héllo'[1] }} {{ [1,2,3,4][1:-1] }} {{ [1,2,3][5:] }} {{ (1,2,3)[1:] }}", {}),
 ("{{ messages[0].tool_calls is defined }} {{ messages[0].role.upper() }} {{ messages.0.role }}", {"messages": M}),
 ("{{ x.y }}", {}),
 ("{{ x['y'] }}", {}),
 # tests
 ("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }}", {}),
 ("{{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ true is integer }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ false is false }} {{ 0 is false }}", {}),
 ("{{ 1 is equalto 1 }} {{ 1 is eq(2) }} {{ 'a' is in 'cat' }} {{ 3 is in [1,2] }} {{ 2 is odd }} {{ 2 is even }} {{ 9 is divisibleby 3 }} {{ none is sameas none }} {{ 1 is not none }} {{ x is not defined }}", {}),
 ("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ range is callable }} {{ 1 is gt 0 }} {{ 1 is lt 0 }} {{ 1 is ge 1 }} {{ 1 is ne 1 }}", {}),
 ("{{ undefined_var is iterable }} {{ undefined_var is sequence }} {{ undefined_var|length }} {{ undefined_var is mapping }}", {}),
 # string methods
 ("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a '.lstrip() }}|{{ ' a  '.rstrip() }}|{{ '\\n\\ta\\n'.strip('\\n') }}|{{ '\u00a0a\u3000'.strip() }}", {}),
 ("{{ '  a b  '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'a b c'.split(none, 1) }} {{ ''.split() }} {{ ''.split(',') }}", {}),
 ("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} {{ 'abc'.upper() }} {{ 'ABC'.lower() }} {{ 'hello wORLD it\\'s'.title() }} {{ 'hELLO'.capitalize() }}", {}),
 ("{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'abc'.find('c') }} {{ 'abc'.find('z') }} {{ 'a-b-c'.count('-') }} {{ ', '.join(['a', 'b']) }} {{ 'x.py'.removesuffix('.py') }} {{ 'a\\nb\\r\\nc'.splitlines() }}", {}),
 ("{{ 'straße'.upper() }} {{ 'ÉCOLE'.lower() }} {{ 'ǆemal'.title() }} {{ '123'.isdigit() }} {{ 'ab1'.isalpha() }}", {}),
  ("{{ 'abc'.nosuchmethod() }}", {}),
 # dict methods
 ("{{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.a }} {{ d['b'] }}", {"d": {"a": 1, "b": [1, 2]}}),
 ("{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }} {{ d|dictsort(by='value') }}", {"d": {"b": 1, "A": 3, "c": 2}}),
 ("{% set x = d.update({'a': 2}) %}", {"d": {"a": 1}}),
 ("{% set x = l.append(3) %}", {"l": [1]}),
 # filters
 ("{{ '  x  '|trim }}|{{ 'xxyxx'|trim('x') }}|{{ messages|length }}|{{ 'héllo'|length }}|{{ messages|first|tojson }}|{{ messages|last|tojson }}|{{ [1,2]|join(',') }}|{{ [1,2]|join }}", {"messages": M}),
 ("{{ 'ab'|upper }} {{ 'AB'|lower }} {{ 'hello world'|capitalize }} {{ 'hello-world (x) [y] <z>'|title }} {{ 'aXa'|replace('a', 'b') }}", {}),
 ("{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|default('d') }} {{ x|d('e') }}", {}),
 ("{{ 'abc'|list }} {{ {'a':1}|list }} {{ 42|string }} {{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 4.9|int }} {{ '3.5'|float }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.1|round(0, 'ceil') }} {{ 7|round }}", {}),
 ("{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }}", {"messages": M}),
 ("{{ messages|selectattr('tool_calls', 'defined')|list|length }} {{ messages|map(attribute='missing', default='-')|list }} {{ [1, 0, 2]|select|list }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1,2,3]|reject('even')|list }} {{ ['a', 'B']|map('upper')|list }}", {"messages": M}),
 ("{{ [3, 1, 2]|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ messages|sort(attribute='role')|map(attribute='role')|list }} {{ [1, 2, 1]|unique|list }} {{ [1, 5, 3]|max }} {{ [1, 5, 3]|min }} {{ [1, 2, 3]|sum }} {{ -3|abs }} {{ [1,2]|reverse|list }} {{ 'abc'|reverse }}", {"messages": M}),
 ("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(width='>', blank=true) }}", {}),
 ("{{ '<b>'|safe }} {{ messages[0]|attr('role') }}", {"messages": M}),
 ("{{ 'x'|nosuchfilter }}", {}),
 # iterators (map/select/... return generators) and Markup (safe/escape)
 ("{% if messages|selectattr('role', 'equalto', 'nobody') %}truthy{% endif %}|{{ messages|selectattr('role', 'equalto', 'nobody')|list }}", {"messages": M}),
 ("{% set g = messages|map(attribute='role') %}{{ g|list }}{{ g|list }}|{% set h = messages|map(attribute='role') %}{{ h|first }} {{ h|list }}", {"messages": M}),
 ("{{ 'user' in messages|map(attribute='role') }} {{ none|map('upper')|list }} {{ none|selectattr('x')|list }} {% for r in messages|map(attribute='role')|reverse %}{{ r[0] }}{% endfor %}", {"messages": M}),
 ("{{ messages|map(attribute='role')|tojson }}", {"messages": M}),
 ("{{ messages|map(attribute='role')|length }}", {"messages": M}),
 ("{{ 'Say '|safe + '<b>' + 'it' }}|{{ ('<a>'|e) ~ '<b>' }}|{{ '<a>'|e }}|{{ ('x'|safe).upper() + '&' }}|{{ '<'|safe + '>'|safe }}|{{ ('a'|safe) * 2 + \"'\" }}", {}),
 ("{{ 'Use '|safe + tools[0] | tojson }}", {"tools": [{"name": "f", "description": "say \"hi\" & <bye>"}]}),
 # tojson
 ("{{ messages|tojson }}", {"messages": M}),
 ("{{ messages[:2]|tojson(indent=4) }}", {"messages": M}),
 ("{{ {'b': 1, 'a': [1.5, true, none, 'é\"\\\\\\n\\u0001']}|tojson }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }} {{ [1, {}]|tojson(indent=2) }} {{ {'a': 1}|tojson(separators=(',', ':')) }} {{ [] | tojson(indent=2) }}", {}),
 ("{{ tools|tojson(indent='\\t') }}", {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}),
 ("{{ x|tojson }}", {}),
 ("{{ {1: 'a', true: 'b', none: 'c', 2.5: 'd'}|tojson }}", {}),
 # macros and call
 ("{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c') }}", {}),
 ("{% macro render(m) -%}\n  [{{ m.role }}]\n{%- endmacro %}{% for m in messages %}{{ render(m) }}{% endfor %}", {"messages": M}),
 ("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inside {{ 1 }}{% endcall %}", {}),
 ("{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}<{{ item }}>{% endcall %}", {}),
 ("{% set outer = 'o' %}{% macro m() %}{{ outer }}{% endmacro %}{{ m() }}", {}),
 ("{% filter upper %}abc {{ 'd' }}{% endfilter %}", {}),
 ("{% generation %}gen{% endgeneration %}", {}),
 # errors and refusals
 ("{{ raise_exception('Roles must alternate') }}", {}),
 ("{% if true %}unclosed", {}),
 ("{{ 1 + }}", {}),
 ("{% include 'x.jinja' %}", {}),
 ("{% do x %}", {}),
 ("{{ messages[0].role.foo.bar }}", {"messages": M}),
  ("{{ 'a' is nosuchtest }}", {}),
 ("{% set x = 1 %}{{ x() }}", {}),
]


def main():
    env = environment()
    out = []
    for template, context in CASES:
        case = {"template": template, "context": context}
        try:
            case["expected"] = env.from_string(template).render(**context)
        except Exception as e:  # noqa: BLE001 - jinja2's refusal is the expectation
            case["error"] = f"{type(e).__name__}: {e}"
        out.append(case)
    json.dump({"generator": "tests/golden/chat_templates/make_jinja2_cases.py", "jinja2": jinja2.__version__,
               "cases": out}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
