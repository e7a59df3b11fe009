// Runs a parsed template: scopes as jinja2 frames them (a for loop's body and a macro call get
// their own scope each time, if does not), loop variables, macros and call blocks, and the
// value operations of Python. Filters, tests and attribute access live in builtins.hpp.
#pragma once

#include "tokenizer/jinja/ast.hpp"

#include <memory>
#include <string>
#include <unordered_map>

namespace qrun::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* find(const std::string& name) const;
};

// Renders `body` with `globals` as the outermost scope. Throws TemplateError (with the line).
std::string render(const Body& body, std::shared_ptr<Scope> globals);

}  // namespace qrun::jinja
