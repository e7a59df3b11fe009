// Tensor manifests: qrun hash / qrun verify on a copy of tiny-qwen2, and the comparison rules.
#include "forensics/tensor_manifest.hpp"
#include "support/assets.hpp"

#include <qrun/safetensors.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>

using namespace qrun;
namespace fs = std::filesystem;

namespace {

// A copy of tiny-qwen2's checkpoint with `edit` applied to its tensors, in a fresh folder.
fs::path edited_copy(const std::string& name, const std::function<void(NamedTensors&)>& edit) {
  const fs::path dir = test::temp_dir(name);
  auto file = SafetensorsFile::open(test::asset("models/tiny-qwen2/model.safetensors"));
  REQUIRE(file.ok());
  NamedTensors tensors;
  for (const auto& e : file->entries()) tensors.emplace_back(e.name, file->load(e.name).value());
  edit(tensors);
  REQUIRE(write_safetensors(dir / "model.safetensors", tensors).ok());
  return dir;
}

std::string hash_cmd(const fs::path& model, const fs::path& out) {
  return test::qrun_exe().string() + " hash --model " + model.string() + " --out " + out.string();
}

}  // namespace

TEST_CASE("a tensor digest is the sha256 of the tensor's bytes", "[forensics]") {
  auto digests = forensics::hash_checkpoint(test::asset("models/tiny-qwen2"));
  REQUIRE(digests.ok());
  auto file = SafetensorsFile::open(test::asset("models/tiny-qwen2/model.safetensors"));
  REQUIRE(file.ok());
  REQUIRE(digests->size() == file->entries().size());
  const auto& d = digests->front();
  const at::Tensor t = file->load(d.name).value().contiguous();
  REQUIRE(d.sha256 == sha256_hex(std::string_view(static_cast<const char*>(t.data_ptr()),
                                                           t.numel() * t.element_size())));
  REQUIRE(d.file == "model.safetensors");
}

TEST_CASE("qrun verify accepts an unmodified checkpoint", "[forensics][cli]") {
  const fs::path dir = test::temp_dir("verify_same");
  const fs::path manifest = dir / "manifest.json";
  const auto model = test::asset("models/tiny-qwen2");
  auto h = test::run_command(hash_cmd(model, manifest));
  INFO(h.output);
  REQUIRE(h.exit_code == 0);
  REQUIRE(fs::exists(manifest));
  auto v = test::run_command(test::qrun_exe().string() + " verify --model " + model.string() + " --manifest " +
                             manifest.string());
  INFO(v.output);
  REQUIRE(v.exit_code == 0);
}

TEST_CASE("qrun verify names each changed, missing and extra tensor", "[forensics][cli]") {
  const fs::path manifest = test::temp_dir("verify_edit_manifest") / "manifest.json";
  REQUIRE(test::run_command(hash_cmd(test::asset("models/tiny-qwen2"), manifest)).exit_code == 0);
  std::string changed, dropped;
  const fs::path edited = edited_copy("verify_edit_model", [&](NamedTensors& ts) {
    changed = ts[0].first;
    ts[0].second = ts[0].second.clone();
    ts[0].second.view(-1)[0] += 1;  // one element
    dropped = ts.back().first;
    ts.pop_back();
    ts.emplace_back("model.backdoor", at::zeros({2}, at::kFloat));
  });
  auto v = test::run_command(test::qrun_exe().string() + " verify --model " + edited.string() + " --manifest " +
                             manifest.string());
  INFO(v.output);
  REQUIRE(v.exit_code != 0);
  REQUIRE(v.output.find("changed: " + changed) != std::string::npos);
  REQUIRE(v.output.find("missing: " + dropped) != std::string::npos);
  REQUIRE(v.output.find("extra: model.backdoor") != std::string::npos);
}

TEST_CASE("a dtype change is a mismatch even when the bytes agree", "[forensics]") {
  forensics::TensorDigest a{"w", "m.safetensors", "F16", {2}, "00"};
  forensics::TensorDigest b = a;
  b.dtype = "BF16";
  const auto m = forensics::compare_digests({a}, {b});
  REQUIRE(m.size() == 1);
  REQUIRE(m[0].kind == forensics::Mismatch::Kind::changed);
}

TEST_CASE("qrun hash refuses a folder without safetensors files", "[forensics][cli]") {
  auto digests = forensics::hash_checkpoint(test::temp_dir("hash_empty"));
  REQUIRE_FALSE(digests.ok());
  REQUIRE_FALSE(digests.error().fix.empty());
}

TEST_CASE("a manifest of another format is refused", "[forensics]") {
  auto r = forensics::parse_manifest(nlohmann::json{{"format", "other"}}, "m.json");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().thing == "m.json");
}
