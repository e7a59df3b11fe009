// FP8 and NVFP4 checkpoints in safetensors: F8_E4M3 / F8_E5M2 tensors load as their bytes; tiny
// checkpoints hand-built here in the published formats (compressed-tensors float-quantized,
// vLLM / fbgemm fp8 weight_scale, transformers' fine-grained fp8 weight_scale_inv, compressed-
// tensors nvfp4-pack-quantized) load as their kinds with dequantized weights computed here from the
// formats' definitions; qrun's own fp8 / nvfp4 checkpoints round-trip bit-identically and read as
// the published formats (F8 dtypes in the header, compressed-tensors quantization_config).
//
// The decoders below are transcriptions of the OCP 8-bit Floating Point Specification (OFP8,
// rev. 1.0, 2023), table 1 and section 5.2: E4M3 bias 7, subnormals 2^-6 * 0.m, S.1111.111 NaN,
// no infinities; E5M2 bias 15, IEEE inf/NaN at exponent 31; and of the OCP MX v1.0 E2M1 element
// (bias 1: 0, 0.5, 1, 1.5, 2, 3, 4, 6).
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/plugin.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <random>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

double spec_e4m3(std::uint8_t c) {
  const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  const double sign = s ? -1.0 : 1.0;
  if (e == 15 && m == 7) return std::nan("");
  if (e == 0) return sign * std::pow(2.0, -6) * (m / 8.0);
  return sign * std::pow(2.0, e - 7) * (1.0 + m / 8.0);
}
double spec_e5m2(std::uint8_t c) {
  const int s = c >> 7, e = (c >> 2) & 31, m = c & 3;
  const double sign = s ? -1.0 : 1.0;
  if (e == 31) return m == 0 ? sign * INFINITY : std::nan("");
  if (e == 0) return sign * std::pow(2.0, -14) * (m / 4.0);
  return sign * std::pow(2.0, e - 15) * (1.0 + m / 4.0);
}
double spec_e2m1(std::uint8_t c) {
  static const double mag[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  return (c & 8 ? -1.0 : 1.0) * mag[c & 7];
}

// A safetensors file written byte by byte from the format's definition (not qrun's writer).
struct Raw {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};
template <class T>
Raw raw(const std::string& name, const std::string& dtype, std::vector<std::int64_t> shape, const std::vector<T>& v) {
  return {name, dtype, std::move(shape), std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T))};
}
Raw raw_tensor(const std::string& name, const at::Tensor& t) {  // F32 / U8 / ... from a CPU tensor
  const at::Tensor c = t.contiguous();
  const std::string dt = c.scalar_type() == at::kFloat ? "F32" : c.scalar_type() == at::kByte ? "U8" : "BF16";
  return {name, dt, c.sizes().vec(),
          std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel() * c.element_size()))};
}
void write_raw(const std::filesystem::path& p, const std::vector<Raw>& ts, const nlohmann::json& metadata = {}) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.is_null()) h["__metadata__"] = metadata;
  std::uint64_t off = 0;
  for (const auto& t : ts) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(p, std::ios::binary);
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << text;
  for (const auto& t : ts) out << t.bytes;
}

// Random finite E4M3 codes (no NaN) of n elements.
std::vector<std::uint8_t> fp8_codes(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::uint8_t> c(n);
  for (auto& x : c) {
    do x = static_cast<std::uint8_t>(g() & 0xff);
    while ((x & 0x7f) == 0x7f);
  }
  return c;
}
std::vector<float> floats(std::size_t n, std::uint32_t seed, float lo, float hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Loads one layer through the linear-kind registry as the hf loader does (suffix recognition).
std::shared_ptr<LinearImpl> load_layer(const std::filesystem::path& file, const std::string& layer) {
  auto f = SafetensorsFile::open(file);
  REQUIRE(f.ok());
  LinearState st{layer, {}, nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)};
  std::vector<std::string> suffixes;
  for (const auto& e : f->entries()) {
    if (e.name.rfind(layer + ".", 0) != 0) continue;
    suffixes.push_back(e.name.substr(layer.size() + 1));
    st.tensors.emplace_back(suffixes.back(), *f->load(e.name));
  }
  auto kind = resolve_linear_kind(layer, suffixes, std::nullopt);
  REQUIRE(kind.ok());
  auto l = load_linear(*kind, st);
  if (!l) FAIL(l.error().message());
  return *l;
}

}  // namespace

TEST_CASE("safetensors reads F8_E4M3 and F8_E5M2 as their bytes; the decoders are the OCP spec's", "[fp8][safetensors]") {
  (void)registry();
  const auto dir = test::temp_dir("fp8_dtypes");
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  write_raw(dir / "t.safetensors", {raw("a", "F8_E4M3", {16, 16}, all), raw("b", "F8_E5M2", {256}, all)});
  auto f = SafetensorsFile::open(dir / "t.safetensors");
  REQUIRE(f.ok());
  CHECK(f->find("a")->dtype == "F8_E4M3");
  CHECK(f->find("b")->dtype == "F8_E5M2");
  const at::Tensor a = *f->load("a"), b = *f->load("b");
  CHECK(a.scalar_type() == at::kByte);
  CHECK(a.sizes() == at::IntArrayRef({16, 16}));
  CHECK(at::equal(a.reshape({-1}), b));
  for (int i = 0; i < 256; ++i) CHECK(b[i].item<int>() == i);
  // Spot values of OFP8 table 1 (E4M3): max normal 448 = S.1111.110, min normal 2^-6, min subnormal 2^-9.
  CHECK(spec_e4m3(0x7E) == 448.0);
  CHECK(spec_e4m3(0x08) == std::pow(2.0, -6));
  CHECK(spec_e4m3(0x01) == std::pow(2.0, -9));
  CHECK(spec_e4m3(0x38) == 1.0);
  CHECK(spec_e5m2(0x7B) == 57344.0);
  CHECK(std::isinf(spec_e5m2(0x7C)));
}

TEST_CASE("hand-built compressed-tensors / vLLM / fbgemm FP8 layers load as code * weight_scale", "[fp8][format]") {
  const auto dir = test::temp_dir("fp8_published_layers");
  const std::int64_t out = 24, in = 40;
  const auto codes = fp8_codes(out * in, 7);
  const auto ch = floats(out, 8, 1e-3f, 2e-2f);
  const std::vector<float> tensor_scale = {0.0125f};
  write_raw(dir / "t.safetensors",
            {raw("ct_channel.weight", "F8_E4M3", {out, in}, codes), raw("ct_channel.weight_scale", "F32", {out, 1}, ch),
             raw("ct_tensor.weight", "F8_E4M3", {out, in}, codes), raw("ct_tensor.weight_scale", "F32", {1}, tensor_scale),
             raw("ct_tensor.input_scale", "F32", {1}, std::vector<float>{0.05f}),
             raw("fbgemm.weight", "F8_E4M3", {out, in}, codes), raw("fbgemm.weight_scale", "F32", {out, 1}, ch)});
  for (const char* layer : {"ct_channel", "ct_tensor", "fbgemm"}) {
    CAPTURE(layer);
    auto l = load_layer(dir / "t.safetensors", layer);
    CHECK(l->kind() == "fp8");
    const at::Tensor w = l->weight(at::kFloat);
    const bool per_tensor = std::string(layer) == "ct_tensor";
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t i = 0; i < in; ++i) {
        const float expect = static_cast<float>(spec_e4m3(codes[o * in + i])) * (per_tensor ? tensor_scale[0] : ch[o]);
        REQUIRE(w[o][i].item<float>() == expect);
      }
    // model_size counts the packed bytes: 1 byte a weight plus the float32 scales.
    CHECK(l->storage().bytes == out * in + 4 * (per_tensor ? 2 : out));
  }
  // Static activation scale: x' is the E4M3 value nearest x / s (ties to the even code), times s.
  auto l = load_layer(dir / "t.safetensors", "ct_tensor");
  const at::Tensor x = at::tensor(floats(2 * in, 9, -30.0f, 30.0f)).reshape({2, in});
  const at::Tensor xq = at::empty_like(x);
  for (std::int64_t k = 0; k < x.numel(); ++k) {
    const double v = std::clamp(static_cast<double>(x.reshape({-1})[k].item<float>() / 0.05f), -448.0, 448.0);
    int best = 0;
    for (int c = 0; c < 256; ++c) {
      if ((c & 0x7f) == 0x7f) continue;
      const double d = std::fabs(spec_e4m3(c) - v), db = std::fabs(spec_e4m3(best) - v);
      if (d < db || (d == db && (c & 1) == 0 && (best & 1) == 1)) best = c;
    }
    xq.reshape({-1})[k] = static_cast<float>(spec_e4m3(best)) * 0.05f;
  }
  CHECK(at::allclose(l->forward(x), at::linear(xq, l->weight(at::kFloat)), 1e-6, 1e-6));
}

TEST_CASE("hand-built fine-grained FP8 layers (weight_scale_inv per 128 x 128 block) load per block", "[fp8][format]") {
  const auto dir = test::temp_dir("fp8_block_layers");
  struct Case { std::string name; std::int64_t out, in, rows, cols, bo, bi; };
  const std::vector<Case> cases = {{"deepseek", 300, 260, 3, 3, 128, 128}, {"exact", 64, 96, 4, 3, 16, 32}};
  std::vector<Raw> ts;
  std::map<std::string, std::pair<std::vector<std::uint8_t>, std::vector<float>>> data;
  std::uint32_t seed = 20;
  for (const auto& c : cases) {
    seed += 2;
    data[c.name] = {fp8_codes(c.out * c.in, seed), floats(c.rows * c.cols, seed + 1, 1e-4f, 1e-2f)};
    ts.push_back(raw(c.name + ".weight", "F8_E4M3", {c.out, c.in}, data[c.name].first));
    ts.push_back(raw(c.name + ".weight_scale_inv", "F32", {c.rows, c.cols}, data[c.name].second));
  }
  write_raw(dir / "t.safetensors", ts);
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto l = load_layer(dir / "t.safetensors", c.name);
    CHECK(l->kind() == "fp8");
    const at::Tensor w = l->weight(at::kFloat);
    const auto& [codes, s] = data[c.name];
    for (std::int64_t o = 0; o < c.out; ++o)
      for (std::int64_t i = 0; i < c.in; ++i)
        REQUIRE(w[o][i].item<float>() ==
                static_cast<float>(spec_e4m3(codes[o * c.in + i])) * s[(o / c.bo) * c.cols + i / c.bi]);
    const auto names = l->state();
    CHECK(names[1].first == "weight_scale_inv");
  }
}

TEST_CASE("hand-built compressed-tensors nvfp4-pack-quantized layers load as E2M1 * E4M3 scale / global", "[nvfp4][format]") {
  const auto dir = test::temp_dir("nvfp4_published_layers");
  const std::int64_t out = 8, in = 64;
  std::mt19937 g(3);
  std::vector<std::uint8_t> packed(out * in / 2), scales(out * in / 16);
  for (auto& p : packed) p = static_cast<std::uint8_t>(g() & 0xff);
  for (auto& s : scales) s = static_cast<std::uint8_t>(0x20 + g() % 0x50);  // positive finite E4M3
  const std::vector<float> global = {3000.0f};
  write_raw(dir / "t.safetensors", {raw("l.weight_packed", "U8", {out, in / 2}, packed),
                                    raw("l.weight_scale", "F8_E4M3", {out, in / 16}, scales),
                                    raw("l.weight_global_scale", "F32", {1}, global),
                                    raw("l.input_global_scale", "F32", {1}, std::vector<float>{100.0f})});
  auto l = load_layer(dir / "t.safetensors", "l");
  CHECK(l->kind() == "nvfp4");
  const at::Tensor w = l->weight(at::kFloat);
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t i = 0; i < in; ++i) {
      const std::uint8_t byte = packed[o * in / 2 + i / 2];
      const std::uint8_t code = i % 2 == 0 ? byte & 15 : byte >> 4;  // even element in the low nibble
      const float block = static_cast<float>(spec_e4m3(scales[o * in / 16 + i / 16])) / global[0];
      REQUIRE(w[o][i].item<float>() == static_cast<float>(spec_e2m1(code)) * block);
    }
}

namespace {

// qrun quantize on stories260K; returns the output folder.
std::filesystem::path quantize_folder(const std::string& quantizer, const std::vector<std::string>& params,
                                      const std::string& tag) {
  const auto dir = test::temp_dir("fp8_roundtrip_" + tag);
  std::string cmd = test::qrun_exe().string() + " --log-level warn quantize --model " +
                    test::asset("models/stories260K").string() + " --quantizer " + quantizer;
  for (const auto& p : params) cmd += " --param " + p;
  auto r = test::run_command(cmd + " --out " + (dir / "q").string());
  INFO(cmd << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  return dir / "q";
}

std::unique_ptr<Model> load_model(const std::filesystem::path& path) {
  auto b = registry().make_backend("hf", {{"path", path.string()}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

// The same folder as another tool writes it: every tensor re-written byte for byte, no metadata.
std::filesystem::path strip_qrun_metadata(const std::filesystem::path& folder, const std::string& tag) {
  const auto dir = test::temp_dir("fp8_stripped_" + tag);
  for (const auto& e : std::filesystem::directory_iterator(folder))
    if (e.path().filename() != "model.safetensors") std::filesystem::copy_file(e.path(), dir / e.path().filename());
  auto f = SafetensorsFile::open(folder / "model.safetensors");
  REQUIRE(f.ok());
  std::vector<Raw> ts;
  for (const auto& e : f->entries()) {
    const at::Tensor t = *f->load(e.name);
    ts.push_back({e.name, e.dtype, e.shape,
                  std::string(static_cast<const char*>(t.data_ptr()), static_cast<std::size_t>(t.numel() * t.element_size()))});
  }
  write_raw(dir / "model.safetensors", ts);
  return dir;
}

void check_roundtrip(const std::string& quantizer, const std::vector<std::string>& params, const ParamMap& in_process,
                     const std::string& tag, const std::map<std::string, std::string>& header_dtypes,
                     const std::string& ct_format, bool published_reads_same) {
  const auto folder = quantize_folder(quantizer, params, tag);
  auto f = SafetensorsFile::open(folder / "model.safetensors");
  REQUIRE(f.ok());
  for (const auto& e : f->entries())
    for (const auto& [suffix, dtype] : header_dtypes)
      if (e.name.find("_proj.") != std::string::npos && e.name.size() > suffix.size() &&
          e.name.compare(e.name.size() - suffix.size() - 1, suffix.size() + 1, "." + suffix) == 0) {
        CAPTURE(e.name);
        CHECK(e.dtype == dtype);
      }
  const auto config = nlohmann::json::parse(std::ifstream(folder / "config.json"));
  if (!ct_format.empty()) {
    CHECK(config["quantization_config"]["quant_method"] == "compressed-tensors");
    CHECK(config["quantization_config"]["format"] == ct_format);
    CHECK(config["quantization_config"]["ignore"] == nlohmann::json::array());  // tied lm_head is no linear here
  }
  auto fresh = load_model(test::asset("models/stories260K"));
  auto t = registry().make_transform(quantizer, in_process);
  REQUIRE(t.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  REQUIRE((*t)->apply(*fresh, *ctx).ok());
  std::vector<std::filesystem::path> reads = {folder};
  if (published_reads_same) reads.push_back(strip_qrun_metadata(folder, tag));
  for (const auto& path : reads) {
    CAPTURE(path);
    auto loaded = load_model(path);
    for (const auto& name : fresh->linear_names()) {
      CAPTURE(name);
      REQUIRE(loaded->linear(name).kind() == fresh->linear(name).kind());
      CHECK(at::equal(loaded->linear(name).weight(at::kFloat), fresh->linear(name).weight(at::kFloat)));
      std::int64_t bytes = 0;
      for (const auto& [s, x] : loaded->linear(name).state()) bytes += x.numel() * static_cast<std::int64_t>(x.element_size());
      CHECK(loaded->linear(name).storage().bytes == bytes);
    }
  }
}

}  // namespace

TEST_CASE("qrun's fp8 and nvfp4 checkpoints round-trip and read as the published formats", "[fp8][nvfp4][format][slow]") {
  check_roundtrip("fp8", {"granularity=channel"}, {{"granularity", std::string("channel")}}, "e4m3_channel",
                  {{"weight", "F8_E4M3"}}, "float-quantized", true);
  check_roundtrip("fp8", {"granularity=tensor"}, {{"granularity", std::string("tensor")}}, "e4m3_tensor",
                  {{"weight", "F8_E4M3"}}, "float-quantized", true);
  // E5M2 has no compressed-tensors scheme: the header says F8_E5M2, qrun's record gives the format.
  check_roundtrip("fp8", {"format=e5m2"}, {{"format", std::string("e5m2")}}, "e5m2", {{"weight", "F8_E5M2"}}, "", false);
  check_roundtrip("nvfp4", {}, {}, "nvfp4", {{"weight_scale", "F8_E4M3"}, {"weight_packed", "U8"}},
                  "nvfp4-pack-quantized", false);
}
