// The bad-input suite (issue 18, item 7): named malformed inputs across formats and commands.
// Each runs qrun as a process and asserts: exit code 1 (never a signal, never the bug handler),
// exactly one error line, that line equal to the expected `thing: reason; fix: action` ({dir} is
// the case's folder), and no results.json marked complete anywhere in the case's folder.
// The table is reproduced in RELIABILITY.md.
#include "bad_input_fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <vector>

using namespace qrun::test;

namespace {

struct BadInput {
  const char* name;
  std::function<std::string(const fs::path& dir)> setup;  // makes the files, returns qrun's arguments
  const char* expected;  // the error line, "{dir}" = the case folder; a final '*': a prefix
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// A safetensors image: 8-byte little-endian header length, the header, the data.
std::string safetensors(const std::string& header, const std::string& data, const std::string& prefix = "") {
  const std::string h = prefix + header;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<std::uint64_t>(h.size()) >> (8 * i)) & 0xff);
  return out + h + data;
}
const std::string kOneTensor = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

// tokenizer.json of tiny-qwen2 with `from` replaced by `to` (first occurrence).
std::string tokenizer_with(const std::string& from, const std::string& to) {
  std::string t = read_all(asset("models/tiny-qwen2/tokenizer.json"));
  const auto p = t.find(from);
  if (p == std::string::npos) FAIL("tokenizer.json of tiny-qwen2 has no " << from);
  return t.replace(p, from.size(), to);
}

std::string config_with(const fs::path& m, const std::string& from, const std::string& to) {
  std::string c = read_all(m / "config.json");
  const auto p = c.find(from);
  if (p == std::string::npos) FAIL("config.json has no " << from);
  return c.replace(p, from.size(), to);
}

std::string dry_run(const fs::path& dir, const std::string& extra = "") {
  return "run " + quoted(dir / "exp.toml") + " --dry-run" + extra;
}

// An experiment whose whole text is `toml` (model: dir/m).
std::string toml_case(const fs::path& dir, const std::string& toml) {
  make_model(dir);
  write_text(dir / "exp.toml", toml);
  return dry_run(dir);
}

const std::string kHead = "[experiment]\nname = \"t\"\n[model]\nuse = \"hf\"\npath = \"m\"\n";

std::vector<BadInput> cases() {
  return {
      // --- model folders (qrun run --dry-run: checked before any cell) ---
      {"model_missing_config_json",
       [](const fs::path& d) { auto m = make_model(d); fs::remove(m / "config.json"); make_experiment(d); return dry_run(d); },
       "{dir}/m/config.json: missing (the model folder has no config.json); fix: use a complete checkpoint folder: "
       "config.json, *.safetensors, tokenizer.json"},
      {"model_truncated_safetensors",
       [](const fs::path& d) { auto m = make_model(d, true); fs::resize_file(m / "model.safetensors", 19000000); make_experiment(d); return dry_run(d); },
       "{dir}/m/model.safetensors tensor 'model.embed_tokens.weight': data_offsets [0, 19447808) run past the data section's 18997208 bytes (file truncated?); fix: re-download or re-export the file; its header is inconsistent"},
      {"model_config_not_json",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", "{\"architectures\": [\"Qwen2"); make_experiment(d); return dry_run(d); },
       "{dir}/m/config.json: is not valid JSON; fix: restore the file from the checkpoint"},
      {"model_config_array",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", "[1, 2]"); make_experiment(d); return dry_run(d); },
       "{dir}/m/config.json: is not a JSON object; fix: restore the file from the checkpoint"},
      {"model_config_unsupported_architecture",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", config_with(m, "Qwen2ForCausalLM", "BertModel")); make_experiment(d); return dry_run(d); },
       "{dir}/exp.toml:5:1 model {dir}/m/config.json architectures: architecture 'BertModel' is not supported; fix: use a LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM or Phi3ForCausalLM checkpoint"},
      {"model_config_hidden_size_disagrees",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", config_with(m, "\"hidden_size\": 64", "\"hidden_size\": 128")); make_experiment(d); return dry_run(d); },
       "{dir}/exp.toml:5:1 model {dir}/m/config.json: vocab_size 151936 and hidden_size 128 disagree with model.embed_tokens.weight's shape [151936, 64]; fix: use the config.json that came with these weights"},
      {"model_config_layers_disagree",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", config_with(m, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3")); make_experiment(d); return dry_run(d); },
       "{dir}/exp.toml:5:1 model {dir}/m/config.json layer_types: must list one type per layer; fix: fix config.json"},
      {"model_config_negative_size",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", config_with(m, "\"intermediate_size\": 176", "\"intermediate_size\": -176")); make_experiment(d); return dry_run(d); },
       "{dir}/exp.toml:5:1 model {dir}/m/config.json intermediate_size: must be a positive integer, got -176; fix: fix config.json"},
      {"model_config_huge_number",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "config.json", config_with(m, "\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 1e400")); make_experiment(d); return dry_run(d); },
       "{dir}/m/config.json: is not valid JSON; fix: restore the file from the checkpoint"},
      {"model_no_safetensors",
       [](const fs::path& d) { auto m = make_model(d); fs::remove(m / "model.safetensors"); make_experiment(d); return dry_run(d); },
       "{dir}/m: holds no *.safetensors file; fix: use a checkpoint folder with its weights (model.safetensors or shards with their index)"},
      {"model_index_missing_shard",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "model.safetensors.index.json", R"({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})"); make_experiment(d); return dry_run(d); },
       "{dir}/m/model-00002-of-00002.safetensors: missing (model.safetensors.index.json names it); fix: download every shard of the checkpoint"},
      {"model_index_path_traversal",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "model.safetensors.index.json", R"({"weight_map": {"model.norm.weight": "../../etc/passwd"}})"); make_experiment(d); return dry_run(d); },
       "{dir}/m/model.safetensors.index.json weight_map.model.norm.weight: must name a file of the model folder, got \"../../etc/passwd\"; fix: restore the index from the checkpoint"},
      {"model_index_wrong_shard",
       [](const fs::path& d) { auto m = make_model(d); write_text(m / "model.safetensors.index.json", R"({"weight_map": {"no.such.tensor": "model.safetensors"}})"); make_experiment(d); return dry_run(d); },
       "{dir}/m/model.safetensors.index.json no.such.tensor: is not in model.safetensors as the index says; fix: restore the index and shards from one checkpoint"},
      {"model_path_missing",
       [](const fs::path& d) { make_experiment(d); return dry_run(d, " --set model.path=" + (d / "nowhere").string()); },
       "{dir}/exp.toml:5:1 model.path: '{dir}/nowhere' does not exist; fix: give a model folder, or a hub id such as Qwen/Qwen2.5-0.5B-Instruct"},
      {"model_tokenizer_not_json",
       [](const fs::path& d) { auto m = make_model(d); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", "{\"model\": "); make_experiment(d); return dry_run(d); },
       "{dir}/m/tokenizer.json: is not valid JSON (byte 11, line 1, column 11: syntax error while parsing value - unexpected end of input, expected '[', '{', or a literal); fix: restore the file from the model's original download"},
      // --- safetensors headers (qrun hash reads every header) ---
      {"safetensors_header_length_huge",
       [](const fs::path& d) { std::string s = safetensors(kOneTensor, std::string(8, '\0')); s[7] = '\x7f'; write_text(d / "st" / "model.safetensors", s); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors: header length 9151314442816847926 exceeds the file's remaining 62 bytes (truncated or not safetensors); fix: re-download or re-export the file; it is not a valid safetensors file"},
      {"safetensors_trailing_bytes",
       [](const fs::path& d) { write_text(d / "st" / "model.safetensors", safetensors(kOneTensor, std::string(12, '\0'))); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors: the data section has 4 trailing bytes after the last tensor (bytes [8, 12) belong to no tensor; safetensors forbids them); fix: re-download or re-export the file; it is not a valid safetensors file"},
      {"safetensors_utf8_bom",
       [](const fs::path& d) { write_text(d / "st" / "model.safetensors", safetensors(kOneTensor, std::string(8, '\0'), "\xEF\xBB\xBF")); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors: header starts with a UTF-8 byte-order mark; safetensors headers must begin with '{'; fix: re-download or re-export the file; it is not a valid safetensors file"},
      {"safetensors_offsets_outside_file",
       [](const fs::path& d) { write_text(d / "st" / "model.safetensors", safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'))); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors tensor 'w': data_offsets [0, 16) run past the data section's 8 bytes (file truncated?); fix: re-download or re-export the file; its header is inconsistent"},
      {"safetensors_shape_disagrees_with_offsets",
       [](const fs::path& d) { write_text(d / "st" / "model.safetensors", safetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'))); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors tensor 'w': data_offsets span 8 bytes but shape [3] of F32 needs 12; fix: re-download or re-export the file; its header is inconsistent"},
      {"safetensors_unknown_dtype",
       [](const fs::path& d) { write_text(d / "st" / "model.safetensors", safetensors(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'))); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors tensor 'w': unsupported dtype 'F33'; fix: qrun reads F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3 and F8_E5M2; convert the tensor"},
      {"safetensors_empty_file",
       [](const fs::path& d) { write_text(d / "st" / "model.safetensors", ""); return "hash --model " + quoted(d / "st"); },
       "{dir}/st/model.safetensors: file is 0 bytes, shorter than the 8-byte header length; fix: re-download or re-export the file; it is not a valid safetensors file"},
      // --- tokenizer.json (qrun tokenize) ---
      {"tokenizer_vocab_id_int_max",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", tokenizer_with("\"!\": 0,", "\"!\": 2147483647,")); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json model.vocab.!: id 2147483647 is far beyond the vocabulary's 151643 entries (ids must be below 303542); fix: restore the file from the original download"},
      {"tokenizer_vocab_id_1e9",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", tokenizer_with("\"!\": 0,", "\"!\": 1000000000,")); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json model.vocab.!: id 1000000000 is far beyond the vocabulary's 151643 entries (ids must be below 303542); fix: restore the file from the original download"},
      {"tokenizer_vocab_id_negative",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", tokenizer_with("\"!\": 0,", "\"!\": -5,")); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json model.vocab.!: is not a non-negative 32-bit id; fix: restore the file from the original download"},
      {"tokenizer_number_1e400",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", tokenizer_with("\"!\": 0,", "\"!\": 1e400,")); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json: holds a number too large for a 64-bit float or integer; fix: restore the file from the model's original download"},
      {"tokenizer_special_id_negative",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", tokenizer_with("\"id\": 151643", "\"id\": -1")); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json added_tokens[0].id: is negative; fix: restore the file from the original download"},
      {"tokenizer_special_id_huge",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::remove(m / "tokenizer.json"); write_text(m / "tokenizer.json", tokenizer_with("\"id\": 151643", "\"id\": 2147483648")); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json added_tokens[0].id: is 2147483648, far beyond the vocabulary's 151643 entries and 22 added tokens (ids must be below 303586); fix: restore the file from the original download"},
      {"tokenizer_truncated",
       [](const fs::path& d) { auto m = make_model(d, false, true); fs::resize_file(m / "tokenizer.json", 100000); write_text(d / "t.txt", "hi"); return "tokenize --model " + quoted(m) + " --text " + quoted(d / "t.txt"); },
       "{dir}/m/tokenizer.json: is not valid JSON (byte 100001, line 1, column 100001: syntax error while parsing object separator - unexpected end of input, expected ':'); fix: restore the file from the model's original download"},
      {"tokenize_decode_long_garbage",
       [](const fs::path& d) { auto m = make_model(d); write_text(d / "t.txt", std::string(370000, 'x')); return "tokenize --model " + quoted(m) + " --decode --text " + quoted(d / "t.txt"); },
       "--decode input: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" is not a token id in [0, 151665); fix: give ids as non-negative integers separated by whitespace"},
      // --- experiment TOML (qrun run --dry-run) ---
      {"toml_table_header_hash", [](const fs::path& d) { return toml_case(d, "[#\n"); }, "{dir}/exp.toml:1:2: TOML syntax error: Error while parsing key: expected bare key starting character or string delimiter, saw '#'; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_triple_bracket", [](const fs::path& d) { return toml_case(d, "[[[1]]]\n"); }, "{dir}/exp.toml:1:3: TOML syntax error: Error while parsing key: expected bare key starting character or string delimiter, saw '['; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_error_quotes_newline", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = t\n"); }, "{dir}/exp.toml:2:9: TOML syntax error: Error while parsing boolean: expected 'true', saw 't\\n'; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_nul_byte", [](const fs::path& d) { return toml_case(d, std::string("[experiment]\nname = \"a\0b\"\n", 26)); }, "{dir}/exp.toml:2:10: TOML syntax error: Error while parsing string: unescaped control characters other than TAB (U+0009) are explicitly prohibited; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_invalid_utf8", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = \"\xff\xfe\"\n"); }, "{dir}/exp.toml:2:8: TOML syntax error: Encountered invalid utf-8 sequence; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_nonascii_after_number", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = \"t\"\nseed = 0.\xcb\x82\n"); }, "{dir}/exp.toml:3:10: TOML syntax error: Error while parsing floating-point: expected decimal digit, saw '˂'; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_name_with_newline", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = \"a\\nb\"\n"); }, "{dir}/exp.toml:2:8 experiment.name: 'a\\nb' is not usable in a folder name; fix: use letters, digits, '_', '-' and '.' only"},
      {"toml_unknown_key", [](const fs::path& d) { return toml_case(d, kHead + "[[variants]]\nname = \"a\"\nbasline = true\n"); }, "{dir}/exp.toml:8:1 variants[0].basline: unknown key; fix: did you mean 'baseline'? keys allowed here: name, baseline, transforms"},
      {"toml_unknown_plugin", [](const fs::path& d) { return toml_case(d, kHead + "[[variants]]\nname = \"a\"\ntransforms = [{use = \"nf5\"}]\n"); }, "{dir}/exp.toml:8:22 variants[0].transforms[0].use: no transform plugin named 'nf5'; fix: did you mean 'nf4'? transform plugins: *"},
      {"toml_seed_is_string", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = \"t\"\nseed = \"x\"\n"); }, "{dir}/exp.toml:3:8 experiment.seed: is a string, expected an integer; fix: write seed = 0"},
      {"toml_seed_negative", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = \"t\"\nseed = -3\n"); }, "{dir}/exp.toml:3:8 experiment.seed: -3 is below 0; fix: use a seed >= 0"},
      {"toml_integer_overflow", [](const fs::path& d) { return toml_case(d, "[experiment]\nname = \"t\"\nseed = 99999999999999999999\n"); }, "{dir}/exp.toml:3:28: TOML syntax error: Error while parsing decimal integer: '99999999999999999999' is not representable in 64 bits; fix: correct the TOML at that position (syntax: https://toml.io/en/v1.0.0)"},
      {"toml_no_variants", [](const fs::path& d) { return toml_case(d, kHead + "[[metrics]]\nuse = \"model_size\"\n"); }, "{dir}/exp.toml:1:1 variants: the experiment has no [[variants]]; fix: add at least a baseline: [[variants]] name = \"fp16\" (no transforms)"},
      {"toml_two_baselines", [](const fs::path& d) { return toml_case(d, kHead + "[[variants]]\nname = \"a\"\nbaseline = true\n[[variants]]\nname = \"b\"\nbaseline = true\n"); }, "{dir}/exp.toml:11:12 variants[1].baseline: a second baseline (variant 'a' at {dir}/exp.toml:6:1 is already the baseline); fix: mark exactly one variant with baseline = true"},
      {"toml_duplicate_variant", [](const fs::path& d) { return toml_case(d, kHead + "[[variants]]\nname = \"a\"\n[[variants]]\nname = \"a\"\n"); }, "{dir}/exp.toml:9:8 variants[1].name: 'a' is already the name of another variant; fix: give each [[variants]] entry its own name"},
      {"toml_metric_unknown_dataset", [](const fs::path& d) { return toml_case(d, kHead + "[[variants]]\nname = \"a\"\n[[metrics]]\nuse = \"model_size\"\ndataset = \"wiki\"\n"); }, "{dir}/exp.toml:10:11 metrics[0].dataset: no [[datasets]] entry is named 'wiki'; fix: declare it: [[datasets]] name = \"wiki\", path = \"...\""},
      {"toml_nf4_blocksize_100",
       [](const fs::path& d) { make_model(d); make_experiment(d, "", "[{use = \"nf4\", blocksize = 100}]"); return dry_run(d); }, "{dir}/exp.toml:17:15 variant 'q' nf4 blocksize: 100 is not a bitsandbytes 4-bit block size; fix: use a power of two in [64, 4096] (64, 128, 256, 512, 1024, 2048 or 4096)"},
      {"toml_nf4_include_matches_nothing",
       [](const fs::path& d) { make_model(d); make_experiment(d, "", "[{use = \"nf4\", include = [\"attention.wq\"]}]"); return dry_run(d); }, "{dir}/exp.toml:17:15 variant 'q' nf4 include: include/exclude patterns select none of the model's 14 linear layers; fix: check the patterns against the layer names (e.g. model.layers.0.mlp.up_proj)"},
      {"toml_rtn_group_does_not_divide",
       [](const fs::path& d) { make_model(d); make_experiment(d, "", "[{use = \"rtn\", group_size = 48}]"); return dry_run(d); }, "{dir}/exp.toml:17:15 variant 'q' rtn group_size: 48 does not divide model.layers.0.mlp.down_proj's 176 input features; fix: use a group size that divides every selected layer's input features, -1, or exclude model.layers.0.mlp.down_proj"},
      {"toml_dataset_missing",
       [](const fs::path& d) { make_model(d); make_experiment(d, "[[datasets]]\nname = \"wiki\"\npath = \"" + (d / "wiki.txt").string() + "\"\n"); return dry_run(d); }, "{dir}/exp.toml:23:8 datasets[0].path: '{dir}/wiki.txt' cannot be read (No such file or directory); fix: check the path (relative paths resolve against the current folder), or override it with --set datasets[0].path=FILE"},
      {"toml_name_too_long_for_folder",
       [](const fs::path& d) { make_model(d); write_text(d / "exp.toml", "[experiment]\nname = \"" + std::string(300, 'n') + "\"\n[model]\nuse = \"hf\"\npath = \"" + (d / "m").string() + "\"\n[[variants]]\nname = \"a\"\n[[metrics]]\nuse = \"model_size\"\n"); return "run " + quoted(d / "exp.toml") + " --dry-run"; }, "reports/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...: the folder name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' is 317 bytes, longer than the file system's limit of 255; fix: shorten experiment.name, or pass --output DIR"},
      {"toml_output_not_writable",
       [](const fs::path& d) { make_model(d); make_experiment(d); return dry_run(d, " --set experiment.output_dir=/proc/qrun_out"); }, "/proc: its file system has 0 KiB free; a run needs at least 16 MiB for results.json and the report; fix: free disk space, or choose another --output DIR"},
      {"toml_set_without_value", [](const fs::path& d) { make_model(d); make_experiment(d); return dry_run(d, " --set novalue"); }, "--set novalue: has no '='; fix: write --set section.key=value, e.g. --set model.path=/models/x or --set 'metrics[0].max_length=64'"},
      {"toml_set_index_out_of_range", [](const fs::path& d) { make_model(d); make_experiment(d); return dry_run(d, " --set 'metrics[99].x=1'"); }, "--set metrics[99].x=1: index 99 is out of range: 'metrics' has 1 entries; fix: write --set section.key=value, e.g. --set model.path=/models/x or --set 'metrics[0].max_length=64'"},
      {"toml_file_missing", [](const fs::path& d) { return "run " + quoted(d / "none.toml") + " --dry-run"; }, "{dir}/none.toml: cannot open the experiment file; fix: check the path (experiments live in experiments/*.toml)"},
      {"toml_file_is_folder", [](const fs::path& d) { fs::create_directories(d / "dir.toml"); return "run " + quoted(d / "dir.toml") + " --dry-run"; }, "{dir}/dir.toml: is a folder, not an experiment file; fix: give the .toml file (experiments/*.toml)"},
      // --- results.json (qrun report) ---
      {"results_not_json", [](const fs::path& d) { write_text(d / "results.json", "{\"variants\": ["); return "report " + quoted(d / "results.json"); }, "{dir}/results.json: is not valid JSON; fix: rerun the experiment with --fresh, or point to a results.json written by qrun"},
      {"results_empty_file", [](const fs::path& d) { write_text(d / "results.json", ""); return "report " + quoted(d / "results.json"); }, "{dir}/results.json: is not valid JSON; fix: rerun the experiment with --fresh, or point to a results.json written by qrun"},
      {"results_array", [](const fs::path& d) { write_text(d / "results.json", "[]"); return "report " + quoted(d / "results.json"); }, "{dir}/results.json: is not a JSON object; fix: pass a results.json written by qrun"},
      {"results_deep_nesting", [](const fs::path& d) { write_text(d / "results.json", std::string(100000, '[') + std::string(100000, ']')); return "report " + quoted(d / "results.json"); }, "{dir}/results.json: is not a JSON object; fix: pass a results.json written by qrun"},
      {"results_number_1e400", [](const fs::path& d) { write_text(d / "results.json", "{\"format_version\": 1e400}"); return "report " + quoted(d / "results.json"); }, "{dir}/results.json: is not valid JSON; fix: rerun the experiment with --fresh, or point to a results.json written by qrun"},
      {"results_missing", [](const fs::path& d) { return "report " + quoted(d / "none.json"); }, "{dir}/none.json: cannot open (No such file or directory); fix: check the path; a run writes <output_dir>/results.json"},
      // --- command lines ---
      {"cli_unknown_command", [](const fs::path&) { return std::string("frobnicate"); }, "frobnicate: unknown command; fix: commands: attack, chat-template, compare, detect, eval, generate, hash, help, imatrix, logits, make-model, merge, plugins, quantize, report, run, slurm, status, tokenize, verify"},
      {"cli_run_without_file", [](const fs::path&) { return std::string("run"); }, "qrun run: no experiment file given; fix: usage: qrun run EXPERIMENT.toml [--dry-run] [--set key=value]... [--fresh] [--new] [--output DIR] [--shard I/N] [--devices D1,D2,...]"},
      {"cli_quantize_unknown_quantizer",
       [](const fs::path& d) { auto m = make_model(d); return "quantize --model " + quoted(m) + " --quantizer nf5 --out " + quoted(d / "q"); }, "nf5: unknown transform*"},
      {"cli_quantize_bad_param",
       [](const fs::path& d) { auto m = make_model(d); return "quantize --model " + quoted(m) + " --quantizer nf4 --param blocksize=abc --out " + quoted(d / "q"); }, "--param blocksize: 'abc' is not an int; fix: write e.g. blocksize=64"},
  };
}

}  // namespace

TEST_CASE("every bad input gives exit code 1 and one positioned error line, and leaves no complete result", "[reliability][bad_input][slow]") {
  const auto all = cases();
  CHECK(all.size() >= 50);
  for (const BadInput& c : all) {
    DYNAMIC_SECTION(c.name) {
      const fs::path dir = temp_dir(std::string("bad_input_") + c.name);
      const std::string args = c.setup(dir);
      const auto r = run_command("cd " + quoted(dir) + " && " + qrun_command(args) + " </dev/null");
      INFO("qrun " << args << "\n" << r.output.substr(0, 4000));
      CHECK(r.exit_code == 1);  // -1: killed by a signal
      const auto errors = error_lines(r.output);
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].find("unexpected error") == std::string::npos);
      CHECK(errors[0].find("json.exception") == std::string::npos);
      CHECK(errors[0].size() < 1000);
      CHECK(errors[0].find(": ") != std::string::npos);
      if (std::getenv("QRUN_PRINT_BAD_INPUT")) std::printf("%s\t%s\n", c.name, replace_all(errors[0], dir.string(), "{dir}").c_str());
      // A trailing '*': the rest depends on the build (e.g. which plugins are loaded).
      std::string expected = replace_all(c.expected, "{dir}", dir.string());
      if (!expected.empty() && expected.back() == '*') {
        expected.pop_back();
        CHECK_THAT(errors[0], Catch::StartsWith(expected));
      } else {
        CHECK(errors[0] == expected);
      }
      CHECK(complete_results(dir).empty());
    }
  }
}
