// Published checkpoints whose element type only the safetensors header states, loaded through the
// hf backend (stories260K's shapes and non-linear tensors, every projection replaced by bytes
// written here from the formats' definitions, no qrun metadata):
//   * FP8 E5M2 weights (F8_E5M2) with a float32 weight_scale per channel: W = e5m2(code) * scale,
//     e5m2 transcribed from the OCP 8-bit Floating Point Specification (OFP8 rev. 1.0, 2023,
//     table 1: bias 15, subnormals 2^-14 * m/4, exponent 31 inf/NaN). Before LinearState carried
//     the stored dtype these read as E4M3 without an error;
//   * compressed-tensors "int-quantized" W8A8 (llm-compressor's SmoothQuant / W8A8 int8 schemes):
//     weight I8 [out, in], weight_scale [out, 1] (F32 or BF16), W = q * scale (symmetric, no zero
//     point); activations int8 symmetric, static (input_scale [1]: x' = clamp(round(x / s), -128,
//     127) * s) or dynamic per token (s = max_j |x[t, j]| / 127, x' = round(x / s) * s), round half
//     to even, in float32, as vLLM's scaled_int8_quant and compressed-tensors' fake quantization.
// The expected values below are computed from those definitions, never from qrun's output.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/linear_kind.hpp>
#include <qrun/plugin.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

double ofp8_e5m2(std::uint8_t c) {
  const int s = c >> 7, e = (c >> 2) & 31, m = c & 3;
  const double sign = s ? -1.0 : 1.0;
  if (e == 31) return m == 0 ? sign * INFINITY : std::nan("");
  if (e == 0) return sign * std::pow(2.0, -14) * (m / 4.0);
  return sign * std::pow(2.0, e - 15) * (1.0 + m / 4.0);
}

struct RawTensor {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};
template <class T>
RawTensor raw_of(const std::string& name, const std::string& dtype, std::vector<std::int64_t> shape, const std::vector<T>& v) {
  return {name, dtype, std::move(shape), std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T))};
}
// The safetensors layout (8-byte little-endian header length, JSON header, data), written here.
void write_safetensors(const std::filesystem::path& p, const std::vector<RawTensor>& ts, const nlohmann::json& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  h["__metadata__"] = metadata;
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

// One projection's replacement tensors, given its [out, in].
using MakeLayer = std::function<std::vector<RawTensor>(const std::string& layer, std::int64_t out, std::int64_t in)>;

// stories260K with every "*_proj.weight" replaced by make(); the rest copied byte for byte.
std::filesystem::path build_model(const std::string& tag, const MakeLayer& make, const nlohmann::json& quant_config,
                                  const nlohmann::json& metadata = {{"format", "pt"}}) {
  const auto src = test::asset("models/stories260K");
  const auto dir = test::temp_dir(tag);
  for (const char* f : {"generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy_file(src / f, dir / f);
  auto config = nlohmann::json::parse(std::ifstream(src / "config.json"));
  config["quantization_config"] = quant_config;
  std::ofstream(dir / "config.json") << config.dump(2);
  auto f = SafetensorsFile::open(src / "model.safetensors");
  REQUIRE(f.ok());
  std::vector<RawTensor> ts;
  for (const auto& e : f->entries()) {
    const std::string suffix = "_proj.weight";
    if (e.name.size() > suffix.size() && e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      for (auto& t : make(e.name.substr(0, e.name.size() - 7), e.shape[0], e.shape[1])) ts.push_back(std::move(t));
      continue;
    }
    const at::Tensor t = *f->load(e.name);
    ts.push_back({e.name, e.dtype, e.shape,
                  std::string(static_cast<const char*>(t.data_ptr()), static_cast<std::size_t>(t.numel() * t.element_size()))});
  }
  write_safetensors(dir / "model.safetensors", ts, metadata);
  return dir;
}

Result<std::unique_ptr<Model>> load_model(const std::filesystem::path& path) {
  auto b = registry().make_backend("hf", {{"path", path.string()}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  return (*b)->load(*ctx);
}

std::uint32_t seed_of(const std::string& s) { return static_cast<std::uint32_t>(std::hash<std::string>{}(s) & 0xffffffu); }
std::vector<float> uniform(std::size_t n, std::uint32_t seed, float lo, float hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// ---- E5M2 ----

struct E5m2Layer { std::vector<std::uint8_t> codes; std::vector<float> scale; };

}  // namespace

TEST_CASE("a published F8_E5M2 checkpoint without qrun metadata loads as E5M2 through the hf loader", "[fp8][format][e5m2]") {
  std::map<std::string, E5m2Layer> layers;
  const MakeLayer make = [&](const std::string& layer, std::int64_t out, std::int64_t in) {
    std::mt19937 g(seed_of(layer));
    E5m2Layer& l = layers[layer];
    l.codes.resize(out * in);
    for (auto& c : l.codes) {  // finite codes (exponent field < 31), subnormals and zeros included
      do c = static_cast<std::uint8_t>(g() & 0xff);
      while ((c & 0x7c) == 0x7c);
    }
    l.scale = uniform(out, seed_of(layer) + 1, 1e-6f, 1e-5f);
    return std::vector<RawTensor>{raw_of(layer + ".weight", "F8_E5M2", {out, in}, l.codes),
                                  raw_of(layer + ".weight_scale", "F32", {out, 1}, l.scale)};
  };
  const auto dir = build_model("published_e5m2", make, nlohmann::json{{"quant_method", "fp8"}});
  auto model = load_model(dir);
  if (!model) FAIL(model.error().message());
  REQUIRE(layers.size() == (*model)->linear_names().size());
  for (const auto& [name, l] : layers) {
    CAPTURE(name);
    const LinearImpl& lin = (*model)->linear(name);
    REQUIRE(lin.kind() == "fp8");
    CHECK(lin.metadata()["format"] == "e5m2");
    const at::Tensor w = lin.weight(at::kFloat).contiguous();
    const float* p = w.data_ptr<float>();
    const std::int64_t in = w.size(1);
    std::int64_t differs_from_e4m3_reading = 0;
    for (std::int64_t k = 0; k < w.numel(); ++k) {
      const float expect = static_cast<float>(ofp8_e5m2(l.codes[k])) * l.scale[k / in];
      REQUIRE(p[k] == expect);
      differs_from_e4m3_reading += (l.codes[k] & 0x7f) != 0;  // every nonzero code means another value in E4M3
    }
    CHECK(differs_from_e4m3_reading > 0);
  }
  // The layers written back keep their stored dtype (qrun's writer, from the kind's metadata).
  CHECK((*model)->linear(layers.begin()->first).metadata()["safetensors_dtypes"]["weight"] == "F8_E5M2");
}

TEST_CASE("a qrun record whose FP8 format disagrees with the stored F8 dtype is an error", "[fp8][format][e5m2]") {
  const std::string target = "model.layers.0.mlp.up_proj";
  const MakeLayer make = [&](const std::string& layer, std::int64_t out, std::int64_t in) {
    return std::vector<RawTensor>{
        raw_of(layer + ".weight", "F8_E5M2", {out, in}, std::vector<std::uint8_t>(out * in, 0x3c)),  // 1.0
        raw_of(layer + ".weight_scale", "F32", {out, 1}, std::vector<float>(out, 0.5f))};
  };
  const nlohmann::json record = {{"kind", "fp8"}, {"metadata", {{"format", "e4m3"}}}};
  const auto dir = build_model("e5m2_record_mismatch", make, nlohmann::json::object(),
                               {{"format", "pt"}, {linear_metadata_key(target), record.dump()}});
  auto model = load_model(dir);
  REQUIRE_FALSE(model.ok());
  const std::string msg = model.error().message();
  INFO(msg);
  CHECK(msg.find(target + ".weight") != std::string::npos);
  CHECK(msg.find("F8_E5M2") != std::string::npos);
  CHECK(msg.find("e4m3") != std::string::npos);
}

namespace {

struct IntLayer {
  std::vector<std::int8_t> q;
  std::vector<float> scale;  // as stored (BF16 values widened exactly)
  float input_scale = 0;     // 0: dynamic per token
};

std::vector<float> to_bf16_exact(std::vector<float> v, std::vector<std::uint16_t>& bits) {
  bits.resize(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t u;
    std::memcpy(&u, &v[i], 4);
    bits[i] = static_cast<std::uint16_t>(u >> 16);  // truncate: the widened value is exact
    u &= 0xffff0000u;
    std::memcpy(&v[i], &u, 4);
  }
  return v;
}

// y = x' W^T per the format (float32 activation quantization, float64 accumulation).
at::Tensor expected_forward(const IntLayer& l, const std::vector<float>& x, std::int64_t rows, std::int64_t in,
                            std::int64_t out) {
  at::Tensor y = at::empty({rows, out}, at::TensorOptions().dtype(at::kDouble));
  for (std::int64_t t = 0; t < rows; ++t) {
    std::vector<double> xq(in);
    float s = l.input_scale;
    if (s == 0) {
      float amax = 0;
      for (std::int64_t j = 0; j < in; ++j) amax = std::max(amax, std::fabs(x[t * in + j]));
      s = amax / 127.0f;
    }
    for (std::int64_t j = 0; j < in; ++j) {
      float r = std::nearbyint(x[t * in + j] / s);  // default rounding mode: half to even
      if (l.input_scale != 0) r = std::clamp(r, -128.0f, 127.0f);
      xq[j] = static_cast<double>(r * s);
    }
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (std::int64_t j = 0; j < in; ++j) acc += xq[j] * (static_cast<double>(l.q[o * in + j]) * l.scale[o]);
      y[t][o] = acc;
    }
  }
  return y;
}

}  // namespace

TEST_CASE("a compressed-tensors int-quantized W8A8 checkpoint loads as int8 weights with static or per-token activations",
          "[.][w8a8][format][compressed_tensors]") {
  // Hidden: the fp8 kind recognises these tensor names and would hand int8 weights to the w8a8
  // kind, but load_linear refuses a loader that builds another kind. Run it with
  // "[compressed_tensors]" once that hand-over exists (fp8.cpp's header says where).
  std::map<std::string, IntLayer> layers;
  // Decoder layer 0: static input_scale (the preset W8A8 with static activations); others dynamic
  // per token; layer 1's weight_scale in BF16 (llm-compressor stores scales in the model dtype).
  const MakeLayer make = [&](const std::string& layer, std::int64_t out, std::int64_t in) {
    std::mt19937 g(seed_of(layer));
    IntLayer& l = layers[layer];
    l.q.resize(out * in);
    for (auto& c : l.q) c = static_cast<std::int8_t>(static_cast<int>(g() % 255) - 127);
    l.scale = uniform(out, seed_of(layer) + 1, 1e-3f, 2e-2f);
    std::vector<RawTensor> ts = {raw_of(layer + ".weight", "I8", {out, in}, l.q)};
    if (layer.find("layers.1.") != std::string::npos) {
      std::vector<std::uint16_t> bits;
      l.scale = to_bf16_exact(l.scale, bits);
      ts.push_back(raw_of(layer + ".weight_scale", "BF16", {out, 1}, bits));
    } else {
      ts.push_back(raw_of(layer + ".weight_scale", "F32", {out, 1}, l.scale));
    }
    if (layer.find("layers.0.") != std::string::npos) {
      l.input_scale = 0.02f;
      ts.push_back(raw_of(layer + ".input_scale", "F32", {1}, std::vector<float>{l.input_scale}));
    }
    return ts;
  };
  auto group = [](const nlohmann::json& targets, bool dynamic) {
    return nlohmann::json{
        {"targets", targets},
        {"weights", {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "channel"}, {"dynamic", false}}},
        {"input_activations",
         {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", dynamic ? "token" : "tensor"}, {"dynamic", dynamic}}},
        {"output_activations", nullptr}};
  };
  const nlohmann::json qc = {{"quant_method", "compressed-tensors"},
                             {"format", "int-quantized"},
                             {"quantization_status", "compressed"},
                             {"config_groups", {{"group_0", group({"re:model[.]layers[.]0[.].*"}, false)},
                                                {"group_1", group({"Linear"}, true)}}},
                             {"ignore", nlohmann::json::array()}};
  const auto dir = build_model("published_int_quantized", make, qc);
  auto model = load_model(dir);
  if (!model) FAIL(model.error().message());
  REQUIRE(layers.size() == (*model)->linear_names().size());
  const std::int64_t rows = 5;
  for (const auto& [name, l] : layers) {
    CAPTURE(name);
    const LinearImpl& lin = (*model)->linear(name);
    REQUIRE(lin.kind() == "w8a8");
    CHECK(lin.metadata()["act_quant"] == (l.input_scale != 0 ? "static" : "per_token"));
    const std::int64_t out = lin.out_features(), in = lin.in_features();
    const at::Tensor w = lin.weight(at::kFloat).contiguous();
    const float* p = w.data_ptr<float>();
    for (std::int64_t k = 0; k < w.numel(); ++k) REQUIRE(p[k] == static_cast<float>(l.q[k]) * l.scale[k / in]);
    // Inputs wide enough that the static scale saturates some values at -128 / 127.
    const auto x = uniform(rows * in, seed_of(name) + 2, -3.0f, 3.0f);
    const at::Tensor y = lin.forward(at::tensor(x).reshape({rows, in})).to(at::kDouble);
    const at::Tensor want = expected_forward(l, x, rows, in, out);
    CHECK(at::allclose(y, want, 1e-4, 1e-4));  // one rounding step moves y by ~1e-2
  }
}
