// Post-processors as tokenizers defines them (tokenizers/src/processors/{template,sequence}.rs).
#include "tokenizer/post_processor.hpp"

namespace qrun::tok {

Result<PostProcessor> PostProcessor::from_json(const Json& value, const JsonWhere& where) {
  PostProcessor p;
  if (value.is_null()) return p;
  QRUN_TRY(p.add(value, where));
  return p;
}

Result<void> PostProcessor::add(const Json& value, const JsonWhere& where) {
  auto type = string_member(value, where, "type");
  if (!type.ok()) return type.error();
  if (*type == "ByteLevel") return {};  // trims offsets only; ids are unchanged
  if (*type == "Sequence") {
    auto list = member(value, where, "processors", Json::value_t::array);
    if (!list.ok()) return list.error();
    for (std::size_t i = 0; i < (*list)->size(); ++i) QRUN_TRY(add((**list)[i], where.key("processors").index(i)));
    return {};
  }
  if (*type != "TemplateProcessing") {
    return unsupported(where.key("type"), *type, "TemplateProcessing, ByteLevel, Sequence");
  }
  auto single = member(value, where, "single", Json::value_t::array);
  if (!single.ok()) return single.error();
  auto specials = member(value, where, "special_tokens", Json::value_t::object);
  if (!specials.ok()) return specials.error();
  const JsonWhere sw = where.key("single");
  std::vector<Item> items;
  for (std::size_t i = 0; i < (*single)->size(); ++i) {
    const Json& piece = (**single)[i];
    const JsonWhere pw = sw.index(i);
    if (auto seq = optional_member(piece, pw, "Sequence", Json::value_t::object); !seq.ok()) {
      return seq.error();
    } else if (*seq != nullptr) {
      auto id = string_member(**seq, pw.key("Sequence"), "id");
      if (!id.ok()) return id.error();
      if (*id != "A") return pw.key("Sequence").key("id").error("is \"" + *id + "\" in the single template", "use \"A\"");
      items.push_back({true, {}});
      continue;
    }
    auto tok = member(piece, pw, "SpecialToken", Json::value_t::object);
    if (!tok.ok()) return tok.error();
    auto name = string_member(**tok, pw.key("SpecialToken"), "id");
    if (!name.ok()) return name.error();
    const JsonWhere tw = where.key("special_tokens").key(*name);
    auto entry = member(**specials, where.key("special_tokens"), *name, Json::value_t::object);
    if (!entry.ok()) return entry.error();
    auto ids = member(**entry, tw, "ids", Json::value_t::array);
    if (!ids.ok()) return ids.error();
    Item item;
    for (const Json& id : **ids) {
      if (!id.is_number_integer()) return tw.key("ids").error("holds a non-integer", "restore the file");
      item.ids.push_back(id.get<std::int64_t>());
    }
    items.push_back(std::move(item));
  }
  templates_.push_back(std::move(items));
  return {};
}

PostProcessor PostProcessor::bos_eos(std::optional<std::int64_t> bos, std::optional<std::int64_t> eos) {
  PostProcessor p;
  std::vector<Item> items;
  if (bos) items.push_back({false, {*bos}});
  items.push_back({true, {}});
  if (eos) items.push_back({false, {*eos}});
  p.templates_.push_back(std::move(items));
  return p;
}

std::vector<std::int64_t> PostProcessor::apply(std::vector<std::int64_t> ids) const {
  for (const auto& items : templates_) {
    std::vector<std::int64_t> out;
    out.reserve(ids.size() + items.size());
    for (const Item& item : items) {
      if (item.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    ids = std::move(out);
  }
  return ids;
}

}  // namespace qrun::tok
