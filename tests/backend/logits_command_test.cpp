// `qrun logits` end to end: token ids in a safetensors file -> the model's float32 logits in
// another, checked against transformers' golden logits (arch-zoo llama3) for a batch of two rows.
#include "backend/fixture.hpp"
#include "support/assets.hpp"

#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

using namespace qrun::test;

namespace {

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace

TEST_CASE("qrun logits writes transformers' logits for every row of input_ids", "[backend][cli][slow]") {
  const auto model = asset("models/arch-zoo/llama3");
  const auto golden = model / "golden" / "golden.safetensors";
  const at::Tensor ids = golden_tensor(golden, "input_ids");  // [1, 64]
  const auto dir = temp_dir("qrun_logits");
  REQUIRE(qrun::write_safetensors(dir / "in.safetensors", {{"input_ids", at::cat({ids, ids.flip(1)}, 0)}}).ok());
  const auto r = run_command(quoted(qrun_exe()) + " logits --model " + quoted(model) + " --input " +
                             quoted(dir / "in.safetensors") + " --out " + quoted(dir / "out.safetensors") +
                             " --dtype float32");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const at::Tensor logits = golden_tensor(dir / "out.safetensors", "logits");
  REQUIRE(logits.scalar_type() == at::kFloat);
  REQUIRE(logits.sizes() == at::IntArrayRef({2, 64, 512}));
  const at::Tensor expected = golden_tensor(golden, "logits")[0];
  CHECK(((logits[0] - expected).abs() / (1 + expected.abs())).max().item<double>() <= 1e-4);
  // Row 1 (the ids reversed) is its own sequence: the same as a one-row forward over it.
  auto m = load_model(model, "float32");
  const at::Tensor alone = m->logits(ids.flip(1))[0];
  CHECK(((logits[1] - alone).abs() / (1 + alone.abs())).max().item<double>() <= 1e-4);
  CHECK(golden_tensor(dir / "out.safetensors", "input_ids").equal(at::cat({ids, ids.flip(1)}, 0)));
}

TEST_CASE("qrun logits refuses an input without int64 input_ids", "[backend][cli][errors][slow]") {
  const auto dir = temp_dir("qrun_logits_bad");
  REQUIRE(qrun::write_safetensors(dir / "in.safetensors", {{"input_ids", at::zeros({1, 4}, at::kInt)}}).ok());
  const auto r = run_command(quoted(qrun_exe()) + " logits --model " + quoted(asset("models/arch-zoo/llama3")) +
                             " --input " + quoted(dir / "in.safetensors") + " --out " + quoted(dir / "out.safetensors"));
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("input_ids") != std::string::npos);
  CHECK(r.output.find("int64") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "out.safetensors"));
}
