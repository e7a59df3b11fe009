// A small experiment over the TEST-ONLY plugins (tests/runner/plugins): a random tiny model, a
// baseline, a defended and a quantized variant, two per-model metrics and one comparison metric.
#pragma once

#include "experiment/experiment.hpp"
#include "support/assets.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace qrun::test {

inline const std::string kRunToml = R"([experiment]
name = "resume_test"
seed = 11

[model]
use = "test_backend"
hidden = 6

[[datasets]]
name = "text"
path = "PLACEHOLDER"

[[variants]]
name = "base"

[[variants]]
name = "noisy"
transforms = [{use = "test_noise", std = 0.1}]

[[variants]]
name = "quant"
transforms = [{use = "test_quant", step = 0.25}]

[[metrics]]
use = "test_weight_sum"

[[metrics]]
use = "test_data"
dataset = "text"

[[metrics]]
use = "test_diff"

[report]
max_ppl_increase_pct = 5
)";

// A folder with data.txt, and the experiment file written into it.
struct RunFolder {
  std::filesystem::path dir;
  std::filesystem::path toml;
  std::filesystem::path out;
  std::filesystem::path counter;

  explicit RunFolder(const std::string& name) : dir(temp_dir(name)) {
    toml = dir / "exp.toml";
    out = dir / "out";
    counter = dir / "calls.txt";
    std::ofstream(dir / "data.txt") << "some text for the dataset\n";
    std::ofstream(toml) << kRunToml;
  }
  std::vector<std::string> overrides(std::vector<std::string> extra = {}) const {
    std::vector<std::string> o = {"datasets[0].path=" + (dir / "data.txt").string(),
                                  "experiment.output_dir=" + out.string()};
    o.insert(o.end(), extra.begin(), extra.end());
    return o;
  }
  // Metric calls recorded by the test plugins, one "<metric> <variant>" per line.
  std::vector<std::string> calls() const {
    std::vector<std::string> lines;
    std::ifstream in(counter);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
};

// Sets an environment variable for the scope of a test.
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

}  // namespace qrun::test
