// qrun quantize --tensors: packed output names, --dequant, and parameter errors from the CLI.
#include "support/assets.hpp"

#include <qrun/quant/blockwise4.hpp>
#include <qrun/quant/quant_linear.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun;

namespace {

std::filesystem::path write_input(const std::string& test_name) {
  const auto dir = test::temp_dir(test_name);
  at::Generator gen = at::detail::createCPUGenerator(2);
  NamedTensors t = {{"a.weight", at::randn({16, 64}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02},
                    {"norm", at::ones({64}, at::TensorOptions().dtype(at::kFloat))}};
  REQUIRE(write_safetensors(dir / "in.safetensors", t).ok());
  return dir;
}

std::string quantize_cmd(const std::filesystem::path& dir, const std::string& extra) {
  return test::qrun_exe().string() + " quantize --tensors " + (dir / "in.safetensors").string() + " --out " +
         (dir / "out.safetensors").string() + " " + extra;
}

}  // namespace

TEST_CASE("qrun quantize --tensors writes the packed state under the tensor's name and its dequantization",
          "[quant][cli]") {
  const auto dir = write_input("cli_quantize_tensors");
  auto r = test::run_command(quantize_cmd(dir, "--quantizer nf4 --dequant --param double_quant=false"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  auto f = SafetensorsFile::open(dir / "out.safetensors");
  REQUIRE(f.ok());
  for (const char* name : {"a.weight", "a.weight.absmax", "a.weight.quant_map", "a.weight.quant_state.bitsandbytes__nf4",
                           "a.weight.dequant", "norm"})
    REQUIRE(f->find(name) != nullptr);
  REQUIRE(f->find("a.weight")->dtype == "U8");
  REQUIRE(f->find("a.weight")->shape == std::vector<std::int64_t>{512, 1});
  // the file's dequantization is what the library computes from the same weight
  auto in = SafetensorsFile::open(dir / "in.safetensors");
  REQUIRE(in.ok());
  auto w = quant::quantize_four_bit_weight(*in->load("a.weight"), {quant::FourBit::nf4, 64, false}, "a.weight");
  REQUIRE(w.ok());
  REQUIRE(at::equal(*f->load("a.weight"), w->q.packed));
  REQUIRE(at::equal(*f->load("a.weight.dequant"), w->dequantize(at::kFloat)));
}

TEST_CASE("qrun quantize rejects an unknown parameter naming it with the nearest name", "[quant][cli][errors]") {
  const auto dir = write_input("cli_quantize_bad_param");
  auto r = test::run_command(quantize_cmd(dir, "--quantizer nf4 --param blocksze=64"));
  INFO(r.output);
  REQUIRE(r.exit_code != 0);
  REQUIRE(r.output.find("blocksze") != std::string::npos);
  REQUIRE(r.output.find("blocksize") != std::string::npos);
  REQUIRE_FALSE(std::filesystem::exists(dir / "out.safetensors"));
}

TEST_CASE("qrun quantize rejects a block size bitsandbytes does not accept", "[quant][cli][errors]") {
  const auto dir = write_input("cli_quantize_bad_blocksize");
  auto r = test::run_command(quantize_cmd(dir, "--quantizer fp4 --param blocksize=96"));
  INFO(r.output);
  REQUIRE(r.exit_code != 0);
  REQUIRE(r.output.find("power of two") != std::string::npos);
}
