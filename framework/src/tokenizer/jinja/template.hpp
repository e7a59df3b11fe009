// A Jinja template as transformers renders chat templates: jinja2's ImmutableSandboxedEnvironment
// with trim_blocks and lstrip_blocks, the loopcontrols extension and the {% generation %} tag.
//   auto t = jinja::Template::parse(source, "model/tokenizer_config.json chat_template");
//   auto text = t->render({{"messages", msgs}, {"add_generation_prompt", Value(true)}});
// Errors name the template (`where`), the template line, the construct and a fix.
#pragma once

#include "tokenizer/jinja/value.hpp"

#include <qrun/error.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qrun::jinja {

struct Stmt;

class Template {
 public:
  static Result<Template> parse(std::string_view source, std::string where);
  // `globals` come on top of jinja2's default globals (range, dict, namespace, joiner).
  Result<std::string> render(const std::vector<std::pair<std::string, Value>>& globals) const;
  const std::string& where() const { return where_; }

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> body_;
  std::string where_;
};

// The Error for a TemplateError raised while parsing or rendering the template at `where`.
Error template_error(const TemplateError& e, const std::string& where);

}  // namespace qrun::jinja
