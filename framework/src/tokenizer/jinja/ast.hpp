// The parsed template: expressions and statements, as jinja2's nodes (jinja2/nodes.py) for the
// constructs qrun renders. Every node keeps its template line for error messages.
#pragma once

#include "tokenizer/jinja/value.hpp"

#include <memory>
#include <string>
#include <vector>

namespace qrun::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    literal,    // value
    name,       // name
    list,       // items
    tuple,      // items
    dict,       // items: key, value, key, value, ...
    getattr,    // items[0].name
    getitem,    // items[0][items[1]]
    slice,      // items[0][items[1]:items[2]:items[3]] (null items: omitted)
    call,       // items[0](items[1:], kwargs)
    filter,     // items[0] | name(items[1:], kwargs)
    test,       // items[0] is name(items[1:], kwargs)
    unary,      // name ("-", "+", "not") items[0]
    binary,     // items[0] name items[1]: + - * / // % ** ~ and or
    compare,    // items[0] ops[0] items[1] ops[1] items[2] ... (== != < <= > >= in notin)
    condexpr,   // items[0] if items[1] else items[2] (items[2] null: undefined)
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// What a for loop or a set assigns to: one name, several (unpacking), or namespace.attr.
struct Target {
  std::vector<std::string> names;
  std::string ns_attr;  // non-empty: names[0].ns_attr = value
  bool tuple = false;
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // aligned to the last params
  Body body;
};

struct Stmt {
  enum class Kind {
    text,        // text
    output,      // {{ expr }}
    if_,         // if expr: body, else else_body (elif: a nested if in else_body)
    for_,        // for target in expr [if cond]: body, else else_body
    set,         // set target = expr
    set_block,   // set target [| filters]: body
    macro,       // macro
    call_block,  // call(macro->params) expr: body (the caller)
    filter_block,// filter filters: body
    with,        // with target = expr, ...: body
    break_,
    continue_,
    generation,  // transformers' {% generation %}: renders its body
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;
  std::vector<Target> targets;
  std::vector<ExprPtr> values;      // with: one value per target
  std::vector<ExprPtr> filters;     // set_block / filter_block: filter chain applied to the body (items[0] null)
  std::shared_ptr<MacroDef> macro;  // macro; call_block: the caller's params and body
  Body body, else_body;
};

}  // namespace qrun::jinja
