// qrun make-model --preset tiny --out DIR [--seed N]
// Writes a deterministic random Qwen2ForCausalLM checkpoint in Hugging Face layout (config.json,
// generation_config.json, model.safetensors float32) with a small byte-level BPE tokenizer
// (tokenizer.json: 256 byte tokens + a few merges + <|endoftext|>, <|im_start|>, <|im_end|>;
// tokenizer_config.json with a ChatML template), for tests and demos that need no download.
#include "cli/command.hpp"

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <fstream>
#include <iostream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun make-model --preset tiny --out DIR [--seed N]";

struct Preset {
  std::int64_t hidden = 64, intermediate = 128, layers = 2, heads = 4, kv_heads = 2;
  double rope_theta = 1000000.0, eps = 1e-6;
  double weight_std = 0.1;  // large enough that logits are far from uniform
};

// GPT-2's bytes_to_unicode (the ByteLevel alphabet): printable bytes map to themselves, the rest
// to U+0100 onwards, in this id order.
std::vector<std::pair<int, std::string>> byte_alphabet() {
  std::vector<int> bs, cs;
  auto add_range = [&](int a, int b) {
    for (int x = a; x <= b; ++x) bs.push_back(x);
  };
  add_range('!', '~');
  add_range(0xA1, 0xAC);
  add_range(0xAE, 0xFF);
  cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  auto utf8 = [](int cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  std::vector<std::pair<int, std::string>> out;
  for (std::size_t i = 0; i < bs.size(); ++i) out.emplace_back(bs[i], utf8(cs[i]));
  return out;
}

// The tokenizer.json of the tiny model: Qwen2's pre-tokenizer and decoder, a 256-byte base
// vocabulary plus these merges (written in ByteLevel form: "Ġ" is the space byte).
nlohmann::ordered_json make_tokenizer_json(std::int64_t& next_id, std::vector<std::string>& specials) {
  using json = nlohmann::ordered_json;
  json vocab = json::object();
  std::int64_t id = 0;
  for (const auto& [byte, text] : byte_alphabet()) vocab[text] = id++;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"Ġ", "t"}, {"h", "e"}, {"i", "n"}, {"Ġ", "a"}, {"e", "r"}, {"o", "n"}, {"Ġt", "he"}, {"r", "e"},
      {"Ġ", "s"}, {"a", "n"}, {"o", "u"}, {"Ġ", "w"}, {"e", "d"}, {"i", "s"}, {"Ġ", "o"}, {"in", "g"}};
  json merge_list = json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  json added = json::array();
  specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (const auto& s : specials)
    added.push_back({{"id", id++}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  next_id = id;
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                           {"use_regex", false}};
  json t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = added;
  t["normalizer"] = {{"type", "NFC"}};
  // Qwen2's Split regex (tokenizer.json of Qwen2.5).
  const std::string regex =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  t["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         json::array({{{"type", "Split"},
                                       {"pattern", {{"Regex", regex}}},
                                       {"behavior", "Isolated"},
                                       {"invert", false}},
                                      byte_level})}};
  t["post_processor"] = byte_level;
  t["decoder"] = byte_level;
  t["model"] = {{"type", "BPE"},          {"dropout", nullptr},         {"unk_token", nullptr},
                {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false},     {"vocab", vocab},
                {"merges", merge_list}};
  return t;
}

nlohmann::ordered_json make_tokenizer_config(std::int64_t first_special, const std::vector<std::string>& specials) {
  using json = nlohmann::ordered_json;
  json decoder = json::object();
  for (std::size_t i = 0; i < specials.size(); ++i)
    decoder[std::to_string(first_special + static_cast<std::int64_t>(i))] = {
        {"content", specials[i]}, {"lstrip", false}, {"normalized", false}, {"rstrip", false},
        {"single_word", false},   {"special", true}};
  // Qwen2.5-Instruct's ChatML template (tokenizer_config.json of Qwen/Qwen2.5-0.5B-Instruct, no tools).
  const std::string chat_template =
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
      "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are a tiny random test model.<|im_end|>\\n' "
      "}}{%- endif %}{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}{{- "
      "'<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor "
      "%}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
  return json{{"add_bos_token", false},       {"add_prefix_space", false},
              {"added_tokens_decoder", decoder}, {"additional_special_tokens", json::array({"<|im_start|>", "<|im_end|>"})},
              {"bos_token", nullptr},         {"chat_template", chat_template},
              {"clean_up_tokenization_spaces", false}, {"eos_token", "<|im_end|>"},
              {"errors", "replace"},          {"model_max_length", 4096},
              {"pad_token", "<|endoftext|>"}, {"split_special_tokens", false},
              {"tokenizer_class", "Qwen2Tokenizer"}, {"unk_token", nullptr}};
}

Result<void> write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Error{path.string(), "write failed", "check free disk space and permissions", ErrorCode::io};
  return {};
}

// The random weights: N(0, std) for every 2-D weight and the q/k/v biases, RMSNorm weights 1
// (as transformers initialises them), drawn in a fixed order from one seeded CPU generator.
NamedTensors make_weights(const Preset& p, std::int64_t vocab, std::uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto randn = [&](std::vector<std::int64_t> shape) {
    return at::normal(0.0, p.weight_std, shape, gen, at::TensorOptions().dtype(at::kFloat));
  };
  const auto hd = p.hidden / p.heads;
  NamedTensors w;
  w.emplace_back("model.embed_tokens.weight", randn({vocab, p.hidden}));
  for (std::int64_t l = 0; l < p.layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    w.emplace_back(pre + "input_layernorm.weight", at::ones({p.hidden}));
    w.emplace_back(pre + "self_attn.q_proj.weight", randn({p.heads * hd, p.hidden}));
    w.emplace_back(pre + "self_attn.q_proj.bias", randn({p.heads * hd}));
    w.emplace_back(pre + "self_attn.k_proj.weight", randn({p.kv_heads * hd, p.hidden}));
    w.emplace_back(pre + "self_attn.k_proj.bias", randn({p.kv_heads * hd}));
    w.emplace_back(pre + "self_attn.v_proj.weight", randn({p.kv_heads * hd, p.hidden}));
    w.emplace_back(pre + "self_attn.v_proj.bias", randn({p.kv_heads * hd}));
    w.emplace_back(pre + "self_attn.o_proj.weight", randn({p.hidden, p.heads * hd}));
    w.emplace_back(pre + "post_attention_layernorm.weight", at::ones({p.hidden}));
    w.emplace_back(pre + "mlp.gate_proj.weight", randn({p.intermediate, p.hidden}));
    w.emplace_back(pre + "mlp.up_proj.weight", randn({p.intermediate, p.hidden}));
    w.emplace_back(pre + "mlp.down_proj.weight", randn({p.hidden, p.intermediate}));
  }
  w.emplace_back("model.norm.weight", at::ones({p.hidden}));
  return w;
}

Result<void> make_model(const std::filesystem::path& out, std::uint64_t seed) {
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !std::filesystem::is_empty(out, ec))
    return Error{out.string(), "exists and is not empty", "choose a new --out folder or remove this one"};
  const Preset p;
  std::int64_t tokenizer_size = 0;
  std::vector<std::string> specials;
  const auto tokenizer = make_tokenizer_json(tokenizer_size, specials);
  const std::int64_t first_special = tokenizer_size - static_cast<std::int64_t>(specials.size());
  const std::int64_t endoftext = first_special, im_end = first_special + 2;
  // Embedding rows rounded up to a multiple of 64, as Qwen2 pads its vocabulary (ids beyond the
  // tokenizer exist in the model but are never produced by it).
  const std::int64_t vocab = (tokenizer_size + 63) / 64 * 64;

  nlohmann::ordered_json config = {
      {"architectures", {"Qwen2ForCausalLM"}}, {"attention_dropout", 0.0},
      {"bos_token_id", endoftext},             {"eos_token_id", im_end},
      {"hidden_act", "silu"},                  {"hidden_size", p.hidden},
      {"initializer_range", p.weight_std},     {"intermediate_size", p.intermediate},
      {"max_position_embeddings", 4096},       {"max_window_layers", p.layers},
      {"model_type", "qwen2"},                 {"num_attention_heads", p.heads},
      {"num_hidden_layers", p.layers},         {"num_key_value_heads", p.kv_heads},
      {"rms_norm_eps", p.eps},                 {"rope_theta", p.rope_theta},
      {"sliding_window", nullptr},             {"tie_word_embeddings", true},
      {"torch_dtype", "float32"},              {"use_cache", true},
      {"use_sliding_window", false},           {"vocab_size", vocab}};
  nlohmann::ordered_json generation = {
      {"bos_token_id", endoftext}, {"eos_token_id", {im_end, endoftext}}, {"do_sample", false}};

  // Everything goes to a sibling temporary folder that is renamed into place at the end.
  const auto parent = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  const auto tmp = parent / ("." + out.filename().string() + ".tmp." + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp, ec);
  if (ec) return Error{tmp.string(), "cannot create: " + ec.message(), "check that the parent folder is writable", ErrorCode::io};
  auto cleanup_on_error = [&](Result<void> r) -> Result<void> {
    if (!r) std::filesystem::remove_all(tmp, ec);
    return r;
  };
  QRUN_TRY(cleanup_on_error(write_text(tmp / "config.json", config.dump(2) + "\n")));
  QRUN_TRY(cleanup_on_error(write_text(tmp / "generation_config.json", generation.dump(2) + "\n")));
  QRUN_TRY(cleanup_on_error(write_text(tmp / "tokenizer.json", tokenizer.dump(2) + "\n")));
  QRUN_TRY(cleanup_on_error(
      write_text(tmp / "tokenizer_config.json", make_tokenizer_config(first_special, specials).dump(2) + "\n")));
  QRUN_TRY(cleanup_on_error(write_safetensors(tmp / "model.safetensors", make_weights(p, vocab, seed),
                                              {{"format", "pt"}, {"qrun.preset", "tiny"},
                                               {"qrun.seed", std::to_string(seed)}})));
  if (std::filesystem::exists(out, ec)) std::filesystem::remove(out, ec);  // empty folder
  std::filesystem::rename(tmp, out, ec);
  if (ec) {
    std::filesystem::remove_all(tmp, ec);
    return Error{out.string(), "cannot move the finished model into place", "check permissions", ErrorCode::io};
  }
  return {};
}

int run_make_model(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  po::options_description desc("Options of qrun make-model");
  desc.add_options()
      ("preset", po::value<std::string>()->value_name("NAME")->default_value("tiny"), "model size preset (tiny)")
      ("out", po::value<std::string>()->value_name("DIR"), "folder to create (must not exist or be empty)")
      ("seed", po::value<std::uint64_t>()->value_name("N")->default_value(0), "random seed of the weights")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun make-model", kUsage, "Writes a random Qwen2-architecture model folder", {"out"}}, desc, vm)) return *done;
  const auto preset = vm["preset"].as<std::string>();
  if (preset != "tiny")
    return report_error(Error{"--preset", "unknown preset '" + preset + "'", "use --preset tiny"});
  const std::filesystem::path out = vm["out"].as<std::string>();
  try {
    auto r = make_model(out, vm["seed"].as<std::uint64_t>());
    if (!r) return report_error(r.error());
  } catch (const std::exception& e) {
    return report_error(Error{"qrun make-model", e.what(), "report this as a bug", ErrorCode::internal});
  }
  std::cout << "wrote " << out.string() << " (Qwen2ForCausalLM, preset " << preset << ")\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_make_model, {"make-model", "Write a deterministic random tiny Qwen2 model folder", kUsage,
                                  run_make_model});

}  // namespace qrun::cli
