// Shared by the reliability tests: a writable model folder built from tiny-qwen2 (small files
// copied, the large ones linked), an experiment on it, and helpers to run qrun.
#pragma once

#include "support/assets.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace qrun::test {

namespace fs = std::filesystem;

inline void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// dir/m: config.json, generation_config.json, tokenizer_config.json copied (writable);
// model.safetensors and tokenizer.json linked (copied when `copy_weights`, to be damaged).
inline fs::path make_model(const fs::path& dir, bool copy_weights = false, bool copy_tokenizer = false) {
  const fs::path src = asset("models/tiny-qwen2");
  const fs::path m = dir / "m";
  fs::create_directories(m);
  for (const char* f : {"config.json", "generation_config.json", "tokenizer_config.json"})
    write_text(m / f, read_all(src / f));
  if (copy_weights) write_text(m / "model.safetensors", read_all(src / "model.safetensors"));
  else fs::create_symlink(src / "model.safetensors", m / "model.safetensors");
  if (copy_tokenizer) write_text(m / "tokenizer.json", read_all(src / "tokenizer.json"));
  else fs::create_symlink(src / "tokenizer.json", m / "tokenizer.json");
  return m;
}

// An experiment on dir/m: fp32 baseline, nf4 (blocksize 64), the model_size metric; optional
// extra TOML appended. Output folder dir/out.
inline fs::path make_experiment(const fs::path& dir, const std::string& extra = "",
                                const std::string& transforms = "[{use = \"nf4\", blocksize = 64}]") {
  const fs::path toml = dir / "exp.toml";
  write_text(toml, "[experiment]\nname = \"bad_input\"\noutput_dir = \"" + (dir / "out").string() +
                       "\"\n\n[model]\nuse = \"hf\"\npath = \"" + (dir / "m").string() +
                       "\"\ndtype = \"float32\"\ndevice = \"cpu\"\n\n[[variants]]\nname = \"fp32\"\nbaseline = true\n\n"
                       "[[variants]]\nname = \"q\"\ntransforms = " + transforms +
                       "\n\n[[metrics]]\nuse = \"model_size\"\n" + extra);
  return toml;
}

inline std::string qrun_command(const std::string& args) { return quoted(qrun_exe()) + " " + args; }

// The lines of `output` that start with "error: ", without that prefix.
inline std::vector<std::string> error_lines(const std::string& output) {
  std::vector<std::string> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("error: ", 0) == 0) out.push_back(line.substr(7));
  return out;
}

// Every results.json under `dir` that says complete = true (a failed command must leave none).
inline std::vector<fs::path> complete_results(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() != "results.json") continue;
    const auto j = nlohmann::json::parse(read_all(it->path()), nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("complete", false)) out.push_back(it->path());
  }
  return out;
}

}  // namespace qrun::test
