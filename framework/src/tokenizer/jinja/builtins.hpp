// What templates call: jinja2's filters and tests, attribute and item access with Python's
// str/dict/list methods (jinja2's sandboxed getattr/getitem), and jinja2's global functions.
#pragma once

#include "tokenizer/jinja/value.hpp"

#include <string>
#include <unordered_map>

namespace qrun::jinja {

// obj.name as jinja2's sandboxed getattr: a method bound to obj, a dict key, a namespace
// attribute, or undefined. Throws on an undefined obj.
Value get_attr(const Value& obj, const std::string& name);
// obj[key] as jinja2's getitem (negative indexes count from the end; a missing item is undefined).
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] (undefined bounds: omitted).
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// value | name(args). Throws TemplateError for an unknown filter ("unsupported construct").
Value apply_filter(const std::string& name, const Value& value, CallArgs& args);
// value is name(args).
bool apply_test(const std::string& name, const Value& value, CallArgs& args);

// jinja2's default globals: range, dict, namespace, cycler, joiner.
void add_jinja_globals(std::unordered_map<std::string, Value>& vars);

// Argument access for builtins: positional i or keyword `name`, else `fallback`.
const Value* arg(const CallArgs& args, std::size_t i, const char* name);
Value arg_or(const CallArgs& args, std::size_t i, const char* name, Value fallback);

}  // namespace qrun::jinja
