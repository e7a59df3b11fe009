// Importance matrices (plugins/quantizers/gguf/imatrix*.{hpp,cpp}): llama.cpp's GGUF and .dat files
// read from bytes written here from the formats' definitions (llama.cpp tools/imatrix/imatrix.cpp
// save_imatrix / save_imatrix_legacy, tools/quantize/quantize.cpp load_imatrix / load_legacy_imatrix),
// round trips through all three formats, hostile .dat input, and llama-imatrix's accumulation on
// stories260K against an oracle that hooks every linear layer itself and sums squares in float64.
#include "registry/registry.hpp"
#include "support/assets.hpp"

#include <gguf_file.hpp>
#include <imatrix_compute.hpp>
#include <llama_types.hpp>
#include <qrun/context.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <map>

using namespace qrun;
namespace gg = qrun::gguf;

namespace {

// Little-endian byte writer for hand-built files.
struct Bytes {
  std::string s;
  template <class T> Bytes& put(T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& str64(const std::string& x) {  // GGUF string: uint64 length + bytes
    put<std::uint64_t>(x.size());
    s += x;
    return *this;
  }
  Bytes& str32(const std::string& x) {  // .dat name: int32 length + bytes
    put<std::int32_t>(static_cast<std::int32_t>(x.size()));
    s += x;
    return *this;
  }
  void pad(std::size_t align) {
    while (s.size() % align) s += '\0';
  }
  void write(const std::filesystem::path& p) const {
    std::ofstream f(p, std::ios::binary);
    f.write(s.data(), static_cast<std::streamsize>(s.size()));
  }
};

const Registry& registry() {
  static Registry r = Registry::load(plugin_search_dirs({}));
  return r;
}

std::unique_ptr<Model> load_model(const std::string& rel) {
  auto b = registry().make_backend("hf", {{"path", test::asset(rel).string()}, {"dtype", std::string("float32")}});
  REQUIRE(b.ok());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  auto m = (*b)->load(*ctx);
  if (!m) FAIL(m.error().message());
  return std::move(*m);
}

}  // namespace

TEST_CASE("a hand-built llama-imatrix GGUF file reads as its sums, counts and metadata", "[gguf][imatrix]") {
  // Two entries as save_imatrix writes them: a dense weight (in_sum2 ne [4], counts ne [1]) and an
  // expert tensor of 2 matrices (in_sum2 ne [4, 2], counts ne [1, 2]), the second with count 0.
  const auto dir = test::temp_dir("imatrix_gguf_bytes");
  Bytes b;
  b.s = "GGUF";
  b.put<std::uint32_t>(3).put<std::uint64_t>(4).put<std::uint64_t>(4);
  b.str64("general.type").put<std::uint32_t>(8).str64("imatrix");
  b.str64("imatrix.datasets").put<std::uint32_t>(9).put<std::uint32_t>(8).put<std::uint64_t>(1).str64("wiki.train.raw");
  b.str64("imatrix.chunk_count").put<std::uint32_t>(4).put<std::uint32_t>(3);
  b.str64("imatrix.chunk_size").put<std::uint32_t>(4).put<std::uint32_t>(512);
  struct Info { std::string name; std::vector<std::uint64_t> ne; std::uint64_t offset; };
  const std::vector<Info> infos = {{"blk.0.attn_q.weight.counts", {1}, 0},
                                   {"blk.0.attn_q.weight.in_sum2", {4}, 32},
                                   {"blk.1.ffn_up_exps.weight.counts", {1, 2}, 64},
                                   {"blk.1.ffn_up_exps.weight.in_sum2", {4, 2}, 96}};
  for (const auto& i : infos) {
    b.str64(i.name).put<std::uint32_t>(static_cast<std::uint32_t>(i.ne.size()));
    for (auto n : i.ne) b.put<std::uint64_t>(n);
    b.put<std::uint32_t>(0).put<std::uint64_t>(i.offset);  // GGML_TYPE_F32
  }
  b.pad(32);
  auto floats = [&](std::vector<float> v) {
    for (float x : v) b.put<float>(x);
    b.pad(32);
  };
  floats({1536.0f});
  floats({3.0f, 1536.0f, 0.0f, 768.0f});
  floats({512.0f, 0.0f});
  floats({512.0f, 1024.0f, 256.0f, 2.0f, 9.0f, 9.0f, 9.0f, 9.0f});
  b.write(dir / "im.gguf");

  auto fmt = gg::sniff_imatrix_format(dir / "im.gguf");
  REQUIRE(fmt.ok());
  CHECK(*fmt == gg::ImatrixFormat::gguf);
  auto im = gg::read_imatrix(dir / "im.gguf");
  if (!im) FAIL(im.error().message());
  CHECK(im->datasets == std::vector<std::string>{"wiki.train.raw"});
  CHECK(im->chunk_count == 3);
  CHECK(im->chunk_size == 512);
  REQUIRE(im->entries.size() == 2);
  const auto& q = im->entries.at("blk.0.attn_q.weight");
  CHECK(q.ncols == 4);
  CHECK(q.nmat == 1);
  CHECK(q.mean() == std::vector<float>{3.0f / 1536.0f, 1.0f, 0.0f, 0.5f});
  const auto& up = im->entries.at("blk.1.ffn_up_exps.weight");
  CHECK(up.nmat == 2);
  // llama-quantize: sums / count per expert; an expert without data gets 1s.
  CHECK(up.mean() == std::vector<float>{1.0f, 2.0f, 0.5f, 2.0f / 512.0f, 1.0f, 1.0f, 1.0f, 1.0f});
  // The layer lookup by Hugging Face name goes through llama.cpp's name.
  CHECK(gg::find_imatrix_entry(*im, "model.layers.0.self_attn.q_proj") == &q);
  CHECK(gg::find_imatrix_entry(*im, "model.layers.0.self_attn.k_proj") == nullptr);
}

TEST_CASE("a hand-built legacy .dat imatrix reads as llama-quantize reads it", "[gguf][imatrix]") {
  const auto dir = test::temp_dir("imatrix_dat_bytes");
  Bytes b;
  b.put<std::int32_t>(2);
  b.str32("blk.0.ffn_down.weight").put<std::int32_t>(4).put<std::int32_t>(3);  // ncall 4, 3 values
  b.put<float>(2.0f).put<float>(6.0f).put<float>(1.0f);
  b.str32("output.weight").put<std::int32_t>(0).put<std::int32_t>(2);  // ncall 0: values as they are
  b.put<float>(0.25f).put<float>(3.0f);
  b.put<std::int32_t>(7).str32("calib.txt");  // chunk count, dataset
  b.write(dir / "im.dat");

  auto fmt = gg::sniff_imatrix_format(dir / "im.dat");
  REQUIRE(fmt.ok());
  CHECK(*fmt == gg::ImatrixFormat::dat);
  auto im = gg::read_imatrix(dir / "im.dat", 512);
  if (!im) FAIL(im.error().message());
  CHECK(im->chunk_count == 7);
  CHECK(im->datasets == std::vector<std::string>{"calib.txt"});
  CHECK(im->entries.at("blk.0.ffn_down.weight").mean() == std::vector<float>{0.5f, 1.5f, 0.25f});  // value / ncall
  CHECK(im->entries.at("blk.0.ffn_down.weight").counts == std::vector<float>{4.0f * 512});  // llama-imatrix's state
  CHECK(im->entries.at("output.weight").mean() == std::vector<float>{0.25f, 3.0f});
  CHECK(gg::find_imatrix_entry(*im, "lm_head") == &im->entries.at("output.weight"));

  // Without the trailer (the oldest files) the entries still read.
  Bytes old;
  old.put<std::int32_t>(1).str32("blk.0.attn_k.weight").put<std::int32_t>(1).put<std::int32_t>(1).put<float>(5.0f);
  old.write(dir / "old.dat");
  auto o = gg::read_imatrix_dat(dir / "old.dat");
  if (!o) FAIL(o.error().message());
  CHECK(o->entries.at("blk.0.attn_k.weight").mean() == std::vector<float>{5.0f});
}

TEST_CASE("malformed .dat imatrix files give one error each, never a crash", "[gguf][imatrix][errors]") {
  const auto dir = test::temp_dir("imatrix_dat_bad");
  Bytes good;
  good.put<std::int32_t>(1).str32("blk.0.attn_k.weight").put<std::int32_t>(1).put<std::int32_t>(4);
  for (int i = 0; i < 4; ++i) good.put<float>(1.0f);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"zero entries", std::string("\0\0\0\0", 4)},
      {"huge name", [] { Bytes x; x.put<std::int32_t>(1).put<std::int32_t>(1 << 30); return x.s; }()},
      {"negative nval", [] { Bytes x; x.put<std::int32_t>(1).str32("a").put<std::int32_t>(1).put<std::int32_t>(-5); return x.s; }()},
      {"huge nval", [] { Bytes x; x.put<std::int32_t>(1).str32("a").put<std::int32_t>(1).put<std::int32_t>(1 << 30); return x.s; }()},
      {"repeated name", [&] { Bytes x = good; x.s[0] = 2; x.s += good.s.substr(4); return x.s; }()},
  };
  for (std::size_t cut = 1; cut < good.s.size(); cut += 3) cases.push_back({"cut at " + std::to_string(cut), good.s.substr(0, cut)});
  for (const auto& [what, bytes] : cases) {
    CAPTURE(what);
    Bytes x;
    x.s = bytes;
    x.write(dir / "bad.dat");
    auto r = gg::read_imatrix_dat(dir / "bad.dat");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::corrupt_input);
  }
}

TEST_CASE("imatrix files round trip through GGUF, .dat and safetensors", "[gguf][imatrix]") {
  const auto dir = test::temp_dir("imatrix_round_trip");
  gg::Imatrix im;
  im.datasets = {"data/calib.txt"};
  im.chunk_count = 2;
  im.chunk_size = 512;
  // Counts that are multiples of the chunk size and sums with power-of-two means keep .dat exact.
  im.entries["model.layers.0.self_attn.q_proj"] = {3, 1, {1024.0f, 256.0f, 3072.0f}, {1024.0f}};
  im.entries["model.layers.1.mlp.down_proj"] = {2, 1, {5.0f, 0.5f}, {1000.0f}};
  im.entries["lm_head"] = {2, 1, {8.0f, 2.0f}, {512.0f}};

  REQUIRE(gg::write_imatrix(dir / "im.gguf", im).ok());
  auto g = gg::read_imatrix(dir / "im.gguf");
  if (!g) FAIL(g.error().message());
  CHECK(g->datasets == im.datasets);
  CHECK(g->chunk_count == 2);
  CHECK(g->chunk_size == 512);
  for (const auto& [name, e] : im.entries) {
    CAPTURE(name);
    const auto& r = g->entries.at(gg::llama_tensor_name(name));  // written under llama.cpp's names
    CHECK(r.in_sum2 == e.in_sum2);
    CHECK(r.counts == e.counts);
  }
  // As ggml writes a 2-D tensor of one row: one dimension.
  auto f = gg::GgufFile::open(dir / "im.gguf");
  REQUIRE(f.ok());
  const auto* t = f->find_tensor("blk.0.attn_q.weight.in_sum2");
  REQUIRE(t != nullptr);
  CHECK(t->ne == std::vector<std::int64_t>{3});
  CHECK(f->find("general.type")->as<std::string>() == "imatrix");

  REQUIRE(gg::write_imatrix(dir / "im.dat", im).ok());
  auto d = gg::read_imatrix(dir / "im.dat", 512);
  if (!d) FAIL(d.error().message());
  CHECK(d->chunk_count == 2);
  CHECK(d->datasets == im.datasets);
  CHECK(d->entries.at("blk.0.attn_q.weight").mean() == im.entries.at("model.layers.0.self_attn.q_proj").mean());
  CHECK(d->entries.at("output.weight").mean() == im.entries.at("lm_head").mean());
  // down_proj: count 1000 -> ncall 2, stored (sum / count) * 2, read back / 2: the mean to float rounding.
  const auto down = d->entries.at("blk.1.ffn_down.weight").mean(), want = im.entries.at("model.layers.1.mlp.down_proj").mean();
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(down[i] == Approx(want[i]).epsilon(1e-6));
  // .dat -> .gguf conversion keeps the means
  REQUIRE(gg::write_imatrix(dir / "from_dat.gguf", *d).ok());
  auto dg = gg::read_imatrix(dir / "from_dat.gguf");
  REQUIRE(dg.ok());
  CHECK(dg->entries.at("blk.0.attn_q.weight").mean() == d->entries.at("blk.0.attn_q.weight").mean());

  REQUIRE(gg::write_imatrix(dir / "im.safetensors", im).ok());
  auto s = gg::read_imatrix(dir / "im.safetensors");
  if (!s) FAIL(s.error().message());
  CHECK(s->chunk_count == 2);
  for (const auto& [name, e] : im.entries) CHECK(s->entries.at(name).mean() == e.mean());

  CHECK_FALSE(gg::write_imatrix(dir / "im.bin", im).ok());
}

TEST_CASE("llama.cpp names and Hugging Face layer names map both ways", "[gguf][imatrix]") {
  for (const std::string leaf : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                 "self_attn.qkv_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
    const std::string hf = "model.layers.12." + leaf;
    CAPTURE(hf);
    CHECK(gg::llama_tensor_name(hf).rfind("blk.12.", 0) == 0);
    CHECK(gg::hf_layer_name(gg::llama_tensor_name(hf)) == hf);
  }
  CHECK(gg::hf_layer_name("output.weight") == "lm_head");
  CHECK(gg::hf_layer_name("blk.0.attn_norm.weight") == "blk.0.attn_norm.weight");
}

namespace {

// The oracle's hook: the wrapped layer's own forward, its input's squares summed in float64 by
// plain loops, rows counted.
struct Sums {
  std::vector<double> sum2;
  std::int64_t rows = 0;
};
class HookedLinear final : public LinearImpl {
 public:
  HookedLinear(std::shared_ptr<LinearImpl> inner, Sums* sums) : inner_(std::move(inner)), sums_(sums) {}
  std::string kind() const override { return inner_->kind(); }
  std::int64_t in_features() const override { return inner_->in_features(); }
  std::int64_t out_features() const override { return inner_->out_features(); }
  at::Tensor forward(const at::Tensor& x) const override {
    const at::Tensor r = x.reshape({-1, x.size(-1)}).to(at::kFloat).contiguous();
    const float* p = r.data_ptr<float>();
    const std::int64_t n = r.size(0), k = r.size(1);
    sums_->sum2.resize(static_cast<std::size_t>(k), 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < k; ++j) sums_->sum2[static_cast<std::size_t>(j)] += double(p[i * k + j]) * double(p[i * k + j]);
    sums_->rows += n;
    return inner_->forward(x);
  }
  at::Tensor weight(c10::ScalarType d) const override { return inner_->weight(d); }
  at::Tensor bias() const override { return inner_->bias(); }
  StorageInfo storage() const override { return inner_->storage(); }
  NamedTensors state() const override { return inner_->state(); }
  std::shared_ptr<LinearImpl> clone_to(c10::Device d) const override { return inner_->clone_to(d); }

 private:
  std::shared_ptr<LinearImpl> inner_;
  Sums* sums_;
};

// The chunks as llama-imatrix cuts them, built here from the definition: the text file's tokens
// (one text, BOS added by the tokenizer), consecutive chunks of L, the first token of each set to BOS.
at::Tensor oracle_chunks(const Model& model, const std::filesystem::path& file, std::int64_t L, std::int64_t n) {
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto ids = model.tokenizer().encode(text, true);
  REQUIRE(static_cast<std::int64_t>(ids.size()) >= n * L);
  std::vector<std::int64_t> v;
  for (std::int64_t c = 0; c < n; ++c) {
    v.push_back(*model.tokenizer().bos_id());
    v.insert(v.end(), ids.begin() + c * L + 1, ids.begin() + (c + 1) * L);
  }
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).reshape({n, L});
}

}  // namespace

TEST_CASE("the computed imatrix equals a float64 oracle of llama-imatrix's sums on stories260K", "[gguf][imatrix][model]") {
  c10::InferenceMode guard;
  const auto dir = test::temp_dir("imatrix_oracle");
  // A plain text file of a few hundred tokens, cut from WikiText-2's test split.
  std::ifstream wiki(test::asset("datasets/wikitext-2-raw/wiki.test.raw"), std::ios::binary);
  std::string text(6000, '\0');
  wiki.read(text.data(), static_cast<std::streamsize>(text.size()));
  { std::ofstream(dir / "calib.txt", std::ios::binary) << text; }
  const std::int64_t L = 64, n = 5;

  auto model = load_model("models/stories260K");
  REQUIRE(model->tokenizer().bos_id().has_value());
  auto ctx = make_default_context(0, c10::Device(c10::kCPU));
  gg::ImatrixSpec spec;
  spec.calibration = dir / "calib.txt";
  spec.n_chunks = n;
  spec.chunk_size = L;
  spec.batch_size = 2;
  auto r = gg::compute_imatrix(*model, spec, *ctx);
  if (!r) FAIL(r.error().message());
  CHECK(r->imatrix.chunk_count == n);
  CHECK(r->imatrix.chunk_size == L);
  CHECK(r->record["tokens"] == n * L);
  CHECK(r->record["bos_first"] == true);
  CHECK(r->record["sha256"].get<std::string>().size() == 64);

  // The oracle: every linear layer hooked, one full forward over all chunks at once.
  std::map<std::string, Sums> sums;
  std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> originals;
  for (const auto& name : model->linear_names()) {
    auto orig = model->linear(name).clone_to(c10::Device(c10::kCPU));
    originals.emplace_back(name, orig);
    REQUIRE(model->set_linear(name, std::make_shared<HookedLinear>(orig, &sums[name])).ok());
  }
  (void)model->logits(oracle_chunks(*model, dir / "calib.txt", L, n));
  for (auto& [name, orig] : originals) REQUIRE(model->set_linear(name, orig).ok());

  std::size_t compared = 0;
  for (const auto& name : model->linear_names()) {
    CAPTURE(name);
    const gg::ImatrixEntry* e = gg::find_imatrix_entry(r->imatrix, name);
    if (name == "lm_head") {  // llama-imatrix leaves output.weight out without --process-output
      CHECK(e == nullptr);
      continue;
    }
    REQUIRE(e != nullptr);
    const Sums& s = sums.at(name);
    CHECK(e->counts == std::vector<float>{static_cast<float>(s.rows)});
    CHECK(s.rows == n * L);
    REQUIRE(e->in_sum2.size() == s.sum2.size());
    for (std::size_t j = 0; j < s.sum2.size(); ++j) CHECK(e->in_sum2[j] == Approx(s.sum2[j]).epsilon(2e-5));
    ++compared;
  }
  CHECK(compared == 5 * 7);

  // stories260K ties lm_head to the embedding (no output.weight in llama.cpp either): with
  // process_output the entries stay the decoder blocks' layers.
  spec.process_output = true;
  auto with_out = gg::compute_imatrix(*model, spec, *ctx);
  REQUIRE(with_out.ok());
  CHECK(with_out->imatrix.entries.size() == r->imatrix.entries.size());

  spec.chunk_size = 8;  // llama-imatrix ignores batches below 16 rows: refused here
  CHECK_FALSE(gg::compute_imatrix(*model, spec, *ctx).ok());
}
