// qrun detect on checkpoint folders: a dequantized NF4 copy of tiny-qwen2 written to disk, the
// original, and a missing folder.
#include "support/assets.hpp"

#include <qrun/quant/quant_linear.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>

using namespace qrun;
namespace fs = std::filesystem;

namespace {

// tiny-qwen2 with every projection weight quantized to NF4 (blocksize 64, double quant) and
// dequantized back to its stored dtype (bfloat16), in a fresh folder with the other files copied.
fs::path dequantized_checkpoint(const std::string& name) {
  const fs::path src = test::asset("models/tiny-qwen2");
  const fs::path dir = test::temp_dir(name);
  for (const auto& e : fs::directory_iterator(src))
    if (e.is_regular_file() && e.path().extension() != ".safetensors") fs::copy_file(e.path(), dir / e.path().filename());
  auto file = SafetensorsFile::open(src / "model.safetensors");
  REQUIRE(file.ok());
  NamedTensors tensors;
  int replaced = 0;
  for (const auto& e : file->entries()) {
    at::Tensor t = file->load(e.name).value();
    if (e.name.find("_proj.weight") != std::string::npos) {
      auto q = quant::quantize_four_bit_weight(t, {quant::FourBit::nf4, 64, true}, e.name);
      REQUIRE(q.ok());
      t = q->dequantize(t.scalar_type());
      ++replaced;
    }
    tensors.emplace_back(e.name, t);
  }
  REQUIRE(replaced == 14);  // 2 layers x (q, k, v, o, gate, up, down)
  REQUIRE(write_safetensors(dir / "model.safetensors", tensors).ok());
  return dir;
}

test::CommandResult detect(const fs::path& model, const std::string& extra = "") {
  return test::run_command(test::qrun_exe().string() + " detect --model " + model.string() + extra);
}

}  // namespace

TEST_CASE("qrun detect names NF4 blocksize 64 on a dequantized checkpoint", "[forensics][detector][cli]") {
  const auto r = detect(dequantized_checkpoint("detect_nf4"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.output.find("verdict: dequantized NF4 (blocksize 64): 14 of 14 tested linear layers") != std::string::npos);
}

TEST_CASE("qrun detect --json reports the verdict and each layer's chance rate", "[forensics][detector][cli]") {
  // The logs go to stderr, which run_command merges into the output: keep them quiet.
  const auto r = detect(dequantized_checkpoint("detect_nf4_json"), " --json --log-level warn");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  REQUIRE(j["verdict"]["dequantized"] == true);
  REQUIRE(j["verdict"]["scheme"]["name"] == "nf4 bs64");
  REQUIRE(j["layers"].size() == 14);
  for (const auto& l : j["layers"]) {
    REQUIRE(l["flagged"] == true);
    REQUIRE(l["effective_dtype"] == "bfloat16");
    for (const auto& c : l["candidates"]) REQUIRE(c["chance"]["unit_fit_rate"].get<double>() == 0.0);
  }
}

TEST_CASE("qrun detect says no evidence on the original checkpoint", "[forensics][detector][cli]") {
  const auto r = detect(test::asset("models/tiny-qwen2"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.output.find("verdict: no evidence of dequantization: 0 of 14 tested linear layers") != std::string::npos);
}

TEST_CASE("qrun detect on a missing model folder fails with one error line", "[forensics][detector][cli]") {
  const fs::path missing = test::temp_dir("detect_missing") / "no" / "such-model";
  const auto r = detect(missing);
  INFO(r.output);
  REQUIRE(r.exit_code != 0);
  REQUIRE(r.output.rfind("error: ", 0) == 0);
  REQUIRE(r.output.find("error: ", 1) == std::string::npos);
  REQUIRE(r.output.find(missing.string()) != std::string::npos);
  REQUIRE(r.output.find("fix: ") != std::string::npos);
}

TEST_CASE("qrun detect without --model fails with the usage", "[forensics][detector][cli]") {
  const auto r = test::run_command(test::qrun_exe().string() + " detect");
  INFO(r.output);
  REQUIRE(r.exit_code != 0);
  REQUIRE(r.output.find("no --model given") != std::string::npos);
}
