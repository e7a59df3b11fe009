// Template: lex + parse once, render many times; TemplateError -> qrun::Error at this boundary.
#include "tokenizer/jinja/template.hpp"

#include "tokenizer/jinja/builtins.hpp"
#include "tokenizer/jinja/eval.hpp"
#include "tokenizer/jinja/parser.hpp"

namespace qrun::jinja {

Error template_error(const TemplateError& e, const std::string& where) {
  const std::string thing = where + (e.line > 0 ? " line " + std::to_string(e.line) : "");
  switch (e.kind) {
    case TemplateError::Kind::unsupported:
      return Error::of(ErrorCode::unsupported, thing, std::string(e.what()) + " (qrun's Jinja subset does not have it)",
                       "render with transformers, or replace the construct in the template (chat_template in "
                       "tokenizer_config.json); please report the model so qrun can support it");
    case TemplateError::Kind::raised:
      return Error::of(ErrorCode::invalid_argument, thing, std::string("the template refuses this conversation: ") + e.what(),
                       "give a conversation the template accepts (its roles and their order)");
    case TemplateError::Kind::error: break;
  }
  return Error::of(ErrorCode::invalid_argument, thing, e.what(),
                   "check the template and the conversation (message keys and types) at that line");
}

Result<Template> Template::parse(std::string_view source, std::string where) {
  Template t;
  t.where_ = std::move(where);
  try {
    t.body_ = std::make_shared<const Body>(jinja::parse(lex(source)));
  } catch (const TemplateError& e) {
    Error err = template_error(e, t.where_);
    if (e.kind == TemplateError::Kind::error) {
      err.code = ErrorCode::corrupt_input;
      err.reason = "template syntax error: " + err.reason;
      err.fix = "fix the template's syntax (chat_template in tokenizer_config.json)";
    }
    return err;
  }
  return t;
}

Result<std::string> Template::render(const std::vector<std::pair<std::string, Value>>& globals) const {
  auto scope = std::make_shared<Scope>();
  add_jinja_globals(scope->vars);
  for (const auto& [name, value] : globals) scope->vars[name] = value;
  try {
    return jinja::render(*body_, scope);
  } catch (const TemplateError& e) {
    return template_error(e, where_);
  }
}

}  // namespace qrun::jinja
