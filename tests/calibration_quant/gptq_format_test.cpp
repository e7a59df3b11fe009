// The GPTQ on-disk format (plugins/quantizers/gptq/gptq_format.hpp) against AutoGPTQ's own pack
// loops written out below (AutoGPTQ/AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py
// QuantLinear.pack, numpy uint32 arithmetic), hand-built layers and a hand-built model folder
// whose dequantized weights are computed here from the format's definition.
#include "gptq/gptq_format.hpp"
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <qrun/context.hpp>
#include <qrun/plugin.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <fstream>

using namespace qrun;

namespace {

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

using U32 = std::vector<std::vector<std::uint32_t>>;  // [rows][cols]

// QuantLinear.pack's qweight loop: intweight [in][out] -> qweight [in/32*bits][out].
U32 autogptq_pack(const U32& iw, int bits) {
  const std::size_t cols = iw[0].size();
  U32 q(iw.size() / 32 * static_cast<std::size_t>(bits), std::vector<std::uint32_t>(cols, 0));
  auto orr = [&](std::size_t row, std::size_t j, auto f) {
    for (std::size_t c = 0; c < cols; ++c) q[row][c] |= f(iw[j][c]);
  };
  std::size_t i = 0, row = 0;
  while (row < q.size()) {
    if (bits == 2 || bits == 4 || bits == 8) {
      for (std::size_t j = i; j < i + 32 / bits; ++j) orr(row, j, [&](std::uint32_t v) { return v << (bits * (j - i)); });
      i += 32 / bits;
      row += 1;
    } else {  // 3
      for (std::size_t j = i; j < i + 10; ++j) orr(row, j, [&](std::uint32_t v) { return v << (3 * (j - i)); });
      i += 10;
      orr(row, i, [](std::uint32_t v) { return v << 30; });
      row += 1;
      orr(row, i, [](std::uint32_t v) { return (v >> 2) & 1; });
      i += 1;
      for (std::size_t j = i; j < i + 10; ++j) orr(row, j, [&](std::uint32_t v) { return v << (3 * (j - i) + 1); });
      i += 10;
      orr(row, i, [](std::uint32_t v) { return v << 31; });
      row += 1;
      orr(row, i, [](std::uint32_t v) { return (v >> 1) & 0x3; });
      i += 1;
      for (std::size_t j = i; j < i + 10; ++j) orr(row, j, [&](std::uint32_t v) { return v << (3 * (j - i) + 2); });
      i += 10;
      row += 1;
    }
  }
  return q;
}

U32 transpose(const U32& a) {
  U32 t(a[0].size(), std::vector<std::uint32_t>(a.size()));
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[0].size(); ++j) t[j][i] = a[i][j];
  return t;
}

at::Tensor to_tensor_i32(const U32& a) {  // numpy .astype(np.int32)
  at::Tensor t = at::empty({static_cast<std::int64_t>(a.size()), static_cast<std::int64_t>(a[0].size())}, at::kInt);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[0].size(); ++j)
      t[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = static_cast<std::int32_t>(a[i][j]);
  return t;
}

U32 random_codes(std::size_t rows, std::size_t cols, std::uint32_t lo, std::uint32_t hi, std::uint32_t seed) {
  U32 a(rows, std::vector<std::uint32_t>(cols));
  std::uint32_t s = seed;
  for (auto& r : a)
    for (auto& v : r) {
      s = s * 1664525u + 1013904223u;
      v = lo + (s >> 8) % (hi - lo + 1);
    }
  return a;
}

// An AutoGPTQ layer [out, in] with act-order groups, built with pack(); returns the tensors and
// the weight W[o, c] = scales[g_idx[c], o] * (q[c, o] - (qzeros_stored + 1)) computed here.
struct HandBuilt {
  NamedTensors tensors;
  at::Tensor expected;  // [out, in] float32
};
HandBuilt hand_built(std::int64_t out, std::int64_t in, int bits, std::int64_t group, std::uint32_t seed) {
  const std::uint32_t maxq = (1u << bits) - 1;
  const std::int64_t groups = in / group;
  const U32 q = random_codes(static_cast<std::size_t>(in), static_cast<std::size_t>(out), 0, maxq, seed);
  const U32 zeros = random_codes(static_cast<std::size_t>(groups), static_cast<std::size_t>(out), 1, maxq, seed + 1);
  U32 zm1 = zeros;  // `zeros -= 1` before packing (zeros >= 1 here, so nothing wraps)
  for (auto& r : zm1)
    for (auto& v : r) v -= 1;
  at::manual_seed(seed);
  const at::Tensor scales = (at::rand({groups, out}) * 0.02 + 0.001).to(at::kHalf);
  // act-order g_idx: column c belongs to group (position of c in a permutation) / group.
  const at::Tensor perm = at::randperm(in, at::TensorOptions().dtype(at::kLong));
  const at::Tensor g_idx = at::argsort(perm).div(group, "floor").to(at::kInt);
  HandBuilt h;
  h.tensors = {{"qweight", to_tensor_i32(autogptq_pack(q, bits))},
               {"qzeros", to_tensor_i32(transpose(autogptq_pack(transpose(zm1), bits)))},
               {"scales", scales},
               {"g_idx", g_idx}};
  h.expected = at::empty({out, in});
  const at::Tensor sf = scales.to(at::kFloat);
  for (std::int64_t c = 0; c < in; ++c) {
    const std::int64_t g = g_idx[c].item<std::int64_t>();
    for (std::int64_t o = 0; o < out; ++o)
      h.expected[o][c] = sf[g][o].item<float>() *
                         static_cast<float>(static_cast<double>(q[static_cast<std::size_t>(c)][static_cast<std::size_t>(o)]) -
                                            static_cast<double>(zeros[static_cast<std::size_t>(g)][static_cast<std::size_t>(o)]));
  }
  return h;
}

std::vector<std::string> suffixes_of(const NamedTensors& t) {
  std::vector<std::string> s;
  for (const auto& [n, x] : t) s.push_back(n);
  return s;
}

}  // namespace

TEST_CASE("gptq packing is AutoGPTQ's pack() at 2, 3, 4 and 8 bits, and unpacks back", "[gptq][format]") {
  for (int bits : {2, 3, 4, 8}) {
    CAPTURE(bits);
    const U32 codes = random_codes(64, 40, 0, (1u << bits) - 1, 100 + bits);
    at::Tensor c = at::empty({64, 40}, at::kLong);
    for (std::int64_t i = 0; i < 64; ++i)
      for (std::int64_t j = 0; j < 40; ++j) c[i][j] = static_cast<std::int64_t>(codes[i][j]);
    const at::Tensor packed = gptq::pack_rows(c, bits);
    CHECK(at::equal(packed, to_tensor_i32(autogptq_pack(codes, bits))));
    CHECK(at::equal(gptq::unpack_rows(packed, bits, 64), c));
    // qrun's own shapes: rows padded with zero codes to a multiple of 32.
    const at::Tensor odd = c.slice(0, 0, 45);
    const at::Tensor p2 = gptq::pack_rows(odd, bits);
    CHECK(p2.size(0) == 2 * bits);
    CHECK(at::equal(gptq::unpack_rows(p2, bits, 45), odd));
  }
}

TEST_CASE("a hand-built AutoGPTQ layer (v1 zeros, act-order g_idx) loads as the format defines", "[gptq][format]") {
  c10::InferenceMode guard;
  for (int bits : {2, 3, 4, 8}) {
    CAPTURE(bits);
    const HandBuilt h = hand_built(64, 96, bits, 32, 7 + bits);
    CHECK(gptq::recognizes(suffixes_of(h.tensors)));
    LinearState st{"model.layers.0.mlp.up_proj", h.tensors, nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)};
    auto layer = gptq::load(st);
    if (!layer) FAIL(layer.error().message());
    CHECK((*layer)->in_features() == 96);
    CHECK((*layer)->out_features() == 64);
    CHECK(at::equal((*layer)->weight(at::kFloat), h.expected));
    const StorageInfo s = (*layer)->storage();
    CHECK(s.code_bits == bits);
    CHECK(s.format.find("desc_act") != std::string::npos);
    CHECK(s.bytes == 96 / 32 * bits * 64 * 4 + 3 * (64 / 32 * bits) * 4 + 3 * 64 * 2 + 96 * 4);
  }
  CHECK_FALSE(gptq::recognizes({"qweight", "qzeros", "scales"}));  // AWQ's names
  CHECK_FALSE(gptq::recognizes({"weight"}));
  CHECK(gptq::recognizes({"qweight", "qzeros", "scales", "g_idx", "bias"}));
  // A qweight of the wrong height is refused as corrupt.
  HandBuilt h = hand_built(64, 96, 4, 32, 3);
  h.tensors[0].second = h.tensors[0].second.slice(0, 0, 8);
  auto bad = gptq::load({"x", h.tensors, nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == ErrorCode::corrupt_input);
}

TEST_CASE("qrun's gptq layers round-trip through state() and metadata: v1 with zero 0 and maxq, and v2", "[gptq][format]") {
  c10::InferenceMode guard;
  for (bool v2 : {false, true})
    for (int bits : {3, 4}) {
      CAPTURE(v2, bits);
      const std::int64_t maxq = (1 << bits) - 1;
      at::manual_seed(bits);
      const at::Tensor codes = at::randint(0, maxq + 1, {40, 70}, at::TensorOptions().dtype(at::kInt));
      at::Tensor zeros = at::randint(0, maxq + 1, {40, 3}, at::TensorOptions().dtype(at::kInt));
      zeros[0][0] = 0, zeros[1][0] = static_cast<int>(maxq);
      const at::Tensor scales = at::rand({40, 3}) * 0.1;
      const at::Tensor g_idx = at::arange(70, at::TensorOptions().dtype(at::kLong)).div(32, "floor").to(at::kInt);
      const at::Tensor bias = at::randn({40});
      const gptq::GptqFormat f{bits, 32, false, false, v2};
      auto layer = gptq::GptqLinear::from_codes(codes, scales, zeros, g_idx, bias, f, at::kFloat);
      CHECK(at::equal(layer->codes(), codes.to(at::kLong)));
      CHECK(at::equal(layer->zero_points(), zeros.t().to(at::kLong)));
      LinearState st{"l", layer->state(), layer->metadata(), at::kFloat, c10::Device(c10::kCPU)};
      auto back = gptq::load(st);
      if (!back) FAIL(back.error().message());
      CHECK(at::equal((*back)->weight(at::kFloat), layer->weight(at::kFloat)));
      const at::Tensor s16 = scales.to(at::kHalf).to(at::kFloat);
      const at::Tensor want = s16.index_select(1, g_idx.to(at::kLong)) *
                              (codes.to(at::kFloat) - zeros.index_select(1, g_idx.to(at::kLong)).to(at::kFloat));
      CHECK(at::equal(layer->weight(at::kFloat), want));
      CHECK(at::equal((*back)->bias(), bias.to(at::kHalf).to(at::kFloat)));
      if (!v2) {  // as AutoGPTQ reads it: the tensors alone (no qrun metadata), v1 zeros, 32-multiple shapes
        const at::Tensor c2 = at::randint(0, maxq + 1, {64, 96}, at::TensorOptions().dtype(at::kInt));
        const at::Tensor z2 = at::randint(0, maxq + 1, {64, 3}, at::TensorOptions().dtype(at::kInt));
        const at::Tensor g2 = at::arange(96, at::TensorOptions().dtype(at::kLong)).div(32, "floor").to(at::kInt);
        auto mine = gptq::GptqLinear::from_codes(c2, at::rand({64, 3}) * 0.1, z2, g2, at::Tensor(), f, at::kFloat);
        auto foreign = gptq::load({"l", mine->state(), nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)});
        if (!foreign) FAIL(foreign.error().message());
        CHECK(at::equal((*foreign)->weight(at::kFloat), mine->weight(at::kFloat)));
      } else {  // as GPTQModel's v2 files read: the tensors alone plus the folder's quantization_config
        const at::Tensor c2 = at::randint(0, maxq + 1, {64, 96}, at::TensorOptions().dtype(at::kInt));
        const at::Tensor z2 = at::randint(0, maxq + 1, {64, 3}, at::TensorOptions().dtype(at::kInt));
        const at::Tensor g2 = at::arange(96, at::TensorOptions().dtype(at::kLong)).div(32, "floor").to(at::kInt);
        const at::Tensor sc2 = at::rand({64, 3}) * 0.1;
        auto mine = gptq::GptqLinear::from_codes(c2, sc2, z2, g2, at::Tensor(), f, at::kFloat);
        const at::Tensor want2 = sc2.to(at::kHalf).to(at::kFloat).index_select(1, g2.to(at::kLong)) *
                                 (c2.to(at::kFloat) - z2.index_select(1, g2.to(at::kLong)).to(at::kFloat));
        const nlohmann::json v2_config = {{"quantization_config", {{"bits", bits}, {"checkpoint_format", "gptq_v2"}}}};
        auto foreign = gptq::load({"l", mine->state(), v2_config, at::kFloat, c10::Device(c10::kCPU)});
        if (!foreign) FAIL(foreign.error().message());
        CHECK(at::equal((*foreign)->weight(at::kFloat), want2));
        // Read as v1 (no config), the same stored zeros are off by one: the config is what decides.
        auto as_v1 = gptq::load({"l", mine->state(), nlohmann::json::object(), at::kFloat, c10::Device(c10::kCPU)});
        if (as_v1) CHECK_FALSE(at::equal((*as_v1)->weight(at::kFloat), want2));
        const NamedTensors bare = mine->state();
        auto unknown = gptq::load({"l", bare, {{"quantization_config", {{"checkpoint_format", "marlin"}}}}, at::kFloat,
                                   c10::Device(c10::kCPU)});
        REQUIRE_FALSE(unknown.ok());
        CHECK(unknown.error().code == ErrorCode::unsupported);
      }
    }
}

TEST_CASE("a hand-built AutoGPTQ model folder loads through the hf backend as gptq layers", "[gptq][format][model]") {
  const auto src = test::asset("models/stories260K");
  const auto dir = test::temp_dir("gptq_published");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    std::filesystem::copy_file(src / f, dir / f);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(src / "config.json"));
  config["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 32}, {"desc_act", true},
                                   {"sym", false}, {"checkpoint_format", "gptq"}};
  std::ofstream(dir / "config.json") << config.dump(2);
  auto st = SafetensorsFile::open(src / "model.safetensors");
  REQUIRE(st.ok());
  NamedTensors tensors;
  std::map<std::string, at::Tensor> expected;
  std::uint32_t seed = 1;
  for (const auto& e : st->entries()) {
    const bool attn = e.name.find("self_attn") != std::string::npos && e.name.size() > 7 &&
                      e.name.compare(e.name.size() - 7, 7, ".weight") == 0;
    if (!attn) {
      tensors.emplace_back(e.name, *st->load(e.name));
      continue;
    }
    const std::string layer = e.name.substr(0, e.name.size() - 7);
    const HandBuilt h = hand_built(e.shape[0], e.shape[1], 4, 32, ++seed);
    for (const auto& [suffix, t] : h.tensors) tensors.emplace_back(layer + "." + suffix, t);
    expected[layer] = h.expected;
  }
  REQUIRE(expected.size() == 20);  // q, k, v, o of 5 layers
  REQUIRE(write_safetensors(dir / "model.safetensors", tensors).ok());
  auto b = registry().make_backend("hf", {{"path", dir.string()}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  for (const auto& name : (*m)->linear_names()) {
    CAPTURE(name);
    if (expected.count(name)) {
      CHECK((*m)->linear(name).kind() == "gptq");
      CHECK(at::equal((*m)->linear(name).weight(at::kFloat), expected[name]));
    } else {
      CHECK((*m)->linear(name).kind() == "dense");
    }
  }
  // The folder's quantization_config reaches the layers (LinearState::metadata): a format the
  // gptq kind does not read is refused by name, never decoded as v1.
  config["quantization_config"]["checkpoint_format"] = "marlin";
  std::ofstream(dir / "config.json") << config.dump(2);
  auto b2 = registry().make_backend("hf", {{"path", dir.string()}});
  REQUIRE(b2.ok());
  auto m2 = (*b2)->load(*ctx);
  REQUIRE_FALSE(m2.ok());
  CHECK(m2.error().message().find("marlin") != std::string::npos);
}
