// The gguf quantizer with a computed importance matrix (imatrix=calibration, or a file written by
// `qrun imatrix` in any of the three formats) on stories260K: the same bytes whichever way the
// imatrix arrives, different bytes than without one, and a lower activation-weighted error
// sum_j imatrix_j (W_ij - Q_ij)^2 (what ggml's _impl searches minimise) than without one.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <imatrix_compute.hpp>
#include <qrun/context.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun;
namespace gg = qrun::gguf;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> stories() {
  auto b = registry().make_backend("hf", {{"path", test::asset("models/stories260K").string()}, {"dtype", std::string("float32")}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

std::filesystem::path calibration_text(const std::filesystem::path& dir) {
  std::ifstream wiki(test::asset("datasets/wikitext-2-raw/wiki.test.raw"), std::ios::binary);
  std::string text(6000, '\0');
  wiki.read(text.data(), static_cast<std::streamsize>(text.size()));
  std::ofstream(dir / "calib.txt", std::ios::binary) << text;
  return dir / "calib.txt";
}

std::unique_ptr<Model> quantized(ParamMap params, TransformReport* report = nullptr) {
  auto m = stories();
  auto t = registry().make_transform("gguf", params);
  if (!t) FAIL(t.error().message());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto r = (*t)->apply(*m, *ctx);
  if (!r) FAIL(r.error().message());
  if (report) *report = *r;
  return m;
}

// sum over gguf layers of sum_ij im_j (W_ij - Q_ij)^2, in float64.
double weighted_error(const Model& original, const Model& q, const gg::Imatrix& im) {
  double e = 0;
  for (const auto& name : q.linear_names()) {
    if (q.linear(name).kind() != "gguf") continue;
    const gg::ImatrixEntry* entry = gg::find_imatrix_entry(im, name);
    REQUIRE(entry != nullptr);
    const at::Tensor w = original.linear(name).weight(at::kDouble), d = q.linear(name).weight(at::kFloat).to(at::kDouble);
    const at::Tensor imp = at::tensor(entry->mean(), at::TensorOptions().dtype(at::kFloat)).to(at::kDouble);
    e += ((w - d).square() * imp.unsqueeze(0)).sum().item<double>();
  }
  return e;
}

bool same_layers(const Model& a, const Model& b) {
  for (const auto& name : a.linear_names()) {
    const auto sa = a.linear(name).state(), sb = b.linear(name).state();
    if (sa.size() != sb.size()) return false;
    for (std::size_t i = 0; i < sa.size(); ++i)
      if (!at::equal(sa[i].second, sb[i].second)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("gguf with a computed imatrix: same bytes from every source, lower weighted error than without",
          "[gguf][imatrix][model]") {
  c10::InferenceMode guard;
  const auto dir = test::temp_dir("imatrix_quant");
  const auto calib = calibration_text(dir);
  const ParamMap cal = {{"calibration", calib.string()}, {"n_samples", std::int64_t{5}}, {"seq_len", std::int64_t{64}}};

  auto original = stories();
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  gg::ImatrixSpec spec;
  spec.calibration = calib, spec.n_chunks = 5, spec.chunk_size = 64;
  auto computed = gg::compute_imatrix(*original, spec, *ctx);
  if (!computed) FAIL(computed.error().message());
  for (const char* ext : {"gguf", "safetensors"}) REQUIRE(gg::write_imatrix(dir / (std::string("im.") + ext), computed->imatrix).ok());

  // q4_K falls back to q5_0 on stories260K's 64-wide rows (the imatrix search path of q5_0), and
  // q2_K to q4_0; the 172-wide down_proj rows to f16 (no imatrix there).
  for (const std::string type : {"q4_K", "q2_K"}) {
    CAPTURE(type);
    ParamMap in_process = cal;
    in_process["type"] = type;
    in_process["imatrix"] = std::string("calibration");
    TransformReport rep;
    auto a = quantized(in_process, &rep);
    CHECK(rep.details["imatrix_source"]["computed"] == true);
    CHECK(rep.details["imatrix_source"]["calibration"]["windows"] == 5);
    CHECK(rep.details["imatrix_layers"].get<int>() >= 5 * 6);  // at least q/k/v/o/gate/up of the 5 blocks
    for (const char* ext : {"gguf", "safetensors"}) {
      CAPTURE(ext);
      TransformReport frep;
      auto b = quantized({{"type", type}, {"imatrix", (dir / (std::string("im.") + ext)).string()}}, &frep);
      CHECK(frep.details["imatrix_source"]["format"] == ext);
      CHECK(same_layers(*a, *b));
    }
    auto none = quantized({{"type", type}});
    CHECK_FALSE(same_layers(*a, *none));
    const double with = weighted_error(*original, *a, computed->imatrix);
    const double without = weighted_error(*original, *none, computed->imatrix);
    WARN(type << " on stories260K: activation-weighted error with imatrix " << with << ", without " << without);
    CHECK(with < without);
  }
}

TEST_CASE("qrun imatrix computes llama-imatrix's file and converts it; qrun quantize reads every format",
          "[gguf][imatrix][cli]") {
  const auto dir = test::temp_dir("imatrix_cli");
  const auto calib = calibration_text(dir);
  const std::string qrun = test::qrun_exe().string() + " --log-level warn ";
  const std::string model = test::asset("models/stories260K").string();
  auto run = [](const std::string& cmd) {
    auto r = test::run_command(cmd + " 2>&1");
    INFO(cmd << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    return r.output;
  };
  run(qrun + "imatrix --model " + model + " --calibration " + calib.string() + " --seq-len 64 --n-samples 5 --out " +
      (dir / "im.gguf").string());
  run(qrun + "imatrix --in " + (dir / "im.gguf").string() + " --out " + (dir / "im.dat").string());
  auto g = gg::read_imatrix(dir / "im.gguf");
  if (!g) FAIL(g.error().message());
  CHECK(g->entries.size() == 35);
  CHECK(g->entries.count("blk.4.ffn_down.weight") == 1);
  CHECK(g->chunk_count == 5);
  CHECK(g->chunk_size == 64);
  CHECK(g->datasets == std::vector<std::string>{calib.string()});
  {
    c10::InferenceMode guard;
    auto m = stories();
    auto ctx = make_default_context(0, c10::Device(c10::kCPU));
    gg::ImatrixSpec spec;
    spec.calibration = calib, spec.n_chunks = 5, spec.chunk_size = 64;
    auto r = gg::compute_imatrix(*m, spec, *ctx);
    REQUIRE(r.ok());
    for (const auto& [name, e] : gg::with_llama_names(r->imatrix).entries) {
      CAPTURE(name);
      CHECK(g->entries.at(name).in_sum2 == e.in_sum2);
      CHECK(g->entries.at(name).counts == e.counts);
    }
  }
  for (const char* f : {"im.gguf", "im.dat"})
    run(qrun + "quantize --model " + model + " --quantizer gguf --param type=Q4_K_M --param imatrix=" + (dir / f).string() +
        " --out " + (dir / (std::string("q_") + f)).string());
  // errors: an existing output, an unknown extension
  auto r = test::run_command(qrun + "imatrix --in " + (dir / "im.gguf").string() + " --out " + (dir / "im.dat").string() + " 2>&1");
  CHECK(r.exit_code != 0);
  r = test::run_command(qrun + "imatrix --in " + (dir / "im.gguf").string() + " --out " + (dir / "im.bin").string() + " 2>&1");
  CHECK(r.exit_code != 0);
  CHECK(r.output.find(".gguf") != std::string::npos);
}
