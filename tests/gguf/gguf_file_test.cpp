// GGUF files: qrun's writer and reader round-trip every metadata type and tensor; the bytes follow
// the layout of ggml's docs/gguf.md (checked against a hand-built file); every malformed file is
// refused with one Error naming the file and the key or tensor, never a crash.
#include "support/assets.hpp"

#include <gguf_file.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <random>

using namespace qrun::gguf;
using qrun::ErrorCode;
using qrun::test::temp_dir;

namespace {

// Little-endian bytes, built by hand from the format description (independent of the writer).
struct Bytes {
  std::vector<std::uint8_t> b;
  Bytes& raw(const void* p, std::size_t n) {
    b.insert(b.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n);
    return *this;
  }
  Bytes& u32(std::uint32_t v) { return raw(&v, 4); }
  Bytes& u64(std::uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& s) { return u64(s.size()).raw(s.data(), s.size()); }
  Bytes& pad(std::size_t align) {
    b.resize((b.size() + align - 1) / align * align, 0);
    return *this;
  }
  Bytes& zeros(std::size_t n) {
    b.resize(b.size() + n, 0);
    return *this;
  }
  Bytes& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
    return raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& kv_string(const std::string& key, const std::string& value) { return str(key).u32(8).str(value); }
  Bytes& kv_u32(const std::string& key, std::uint32_t value) { return str(key).u32(4).u32(value); }
  Bytes& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
    str(name).u32(static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) u64(d);
    return u32(type).u64(offset);
  }
  std::filesystem::path save(const std::filesystem::path& p) const {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    return p;
  }
};

// A valid file: one string key, one f32 tensor of 32 values at offset 0.
Bytes valid_file() {
  Bytes f;
  f.header(1, 1).kv_string("general.name", "t").tensor("w", {32}, 0, 0).pad(32).zeros(128);
  return f;
}

// Opens `bytes` as a file and returns the error it must produce.
qrun::Error refused(const Bytes& bytes, const std::string& name) {
  const auto path = temp_dir("gguf_malformed") / (name + ".gguf");
  bytes.save(path);
  auto f = GgufFile::open(path);
  if (f.ok()) FAIL("a malformed file (" << name << ") was accepted");
  return f.error();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a written GGUF reads back with every metadata type, arrays, tensor infos and bytes", "[gguf][file]") {
  const auto path = temp_dir("gguf_roundtrip") / "m.gguf";
  std::vector<float> x(2 * 256);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i)) * 0.1f;
  std::vector<std::uint8_t> q4k(row_size(GgmlType::q4_K, 256) * 2), q8(row_size(GgmlType::q8_0, 32) * 3);
  (void)quantize_rows(GgmlType::q4_K, x.data(), q4k.data(), 2, 256, nullptr);
  (void)quantize_rows(GgmlType::q8_0, x.data(), q8.data(), 3, 32, nullptr);
  std::vector<std::uint8_t> f32(7 * 4);
  std::memcpy(f32.data(), x.data(), f32.size());
  const std::vector<KeyValue> meta = {
      {"general.architecture", Value::of("llama")},     {"u8", Value::of<std::uint8_t>(250)},
      {"i8", Value::of<std::int8_t>(-7)},                {"u16", Value::of<std::uint16_t>(65000)},
      {"i16", Value::of<std::int16_t>(-30000)},          {"u32", Value::of<std::uint32_t>(4000000000u)},
      {"i32", Value::of<std::int32_t>(-2000000000)},     {"f32", Value::of(1.5f)},
      {"bool", Value::of(true)},                         {"u64", Value::of<std::uint64_t>(1ull << 60)},
      {"i64", Value::of<std::int64_t>(-(1ll << 60))},    {"f64", Value::of(-2.25)},
      {"tokens", Value::array_of(std::vector<std::string>{"a", "", "\xe2\x96\x81hello"})},
      {"scores", Value::array_of(std::vector<float>{0.f, -1.f, 2.5f})},
      {"types", Value::array_of(std::vector<std::int32_t>{1, 2, 3})},
      {"flags", Value::array_of(std::vector<bool>{true, false})},
      {"empty", Value::array_of(std::vector<std::uint64_t>{})}};
  const std::vector<TensorData> tensors = {{"blk.0.ffn_down.weight", {256, 2}, GgmlType::q4_K, q4k},
                                           {"output_norm.weight", {7}, GgmlType::f32, f32},
                                           {"token_embd.weight", {32, 3}, GgmlType::q8_0, q8}};
  REQUIRE(write_gguf(path, meta, tensors).ok());

  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  CHECK(f->version() == 3);
  CHECK(f->alignment() == 32);
  CHECK(f->data_offset() % 32 == 0);
  REQUIRE(f->metadata().size() == meta.size());
  for (std::size_t i = 0; i < meta.size(); ++i) {
    CAPTURE(meta[i].key);
    CHECK(f->metadata()[i].key == meta[i].key);
    CHECK(f->metadata()[i].value.type == meta[i].value.type);
    CHECK(f->metadata()[i].value.is_array == meta[i].value.is_array);
    CHECK(f->metadata()[i].value.bytes == meta[i].value.bytes);
    CHECK(f->metadata()[i].value.strings == meta[i].value.strings);
  }
  CHECK(f->find("general.architecture")->as<std::string>() == "llama");
  CHECK(f->find("i64")->as<std::int64_t>() == -(1ll << 60));
  CHECK(f->find("f32")->as<float>() == 1.5f);
  CHECK_FALSE(f->find("f32")->as<double>().has_value());  // exact types only
  CHECK(f->find("bool")->as<bool>() == true);
  CHECK(f->find("tokens")->as_array<std::string>()->at(2) == "\xe2\x96\x81hello");
  CHECK(f->find("flags")->as_array<bool>() == std::vector<bool>{true, false});
  CHECK(f->find("empty")->size() == 0);
  REQUIRE(f->tensors().size() == 3);
  for (const TensorData& t : tensors) {
    CAPTURE(t.name);
    const TensorInfo* info = f->find_tensor(t.name);
    REQUIRE(info != nullptr);
    CHECK(info->ne == t.ne);
    CHECK(info->type == t.type);
    CHECK(info->offset % 32 == 0);
    const auto got = f->data(*info);
    CHECK(std::vector<std::uint8_t>(got.begin(), got.end()) == std::vector<std::uint8_t>(t.bytes.begin(), t.bytes.end()));
  }
}

TEST_CASE("the writer lays out bytes as the GGUF specification does", "[gguf][file]") {
  // Hand-built: header, general.alignment = 64, one tensor info, padding to 64, the data padded to 64.
  std::vector<std::uint8_t> data(34);  // one q8_0 block
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i + 1);
  Bytes expected;
  expected.header(1, 1).kv_u32("general.alignment", 64).tensor("w", {32}, 8, 0).pad(64);
  expected.raw(data.data(), data.size()).pad(64);
  const auto path = temp_dir("gguf_layout") / "l.gguf";
  REQUIRE(write_gguf(path, {{"general.alignment", Value::of<std::uint32_t>(64)}}, {{"w", {32}, GgmlType::q8_0, data}}).ok());
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(got == expected.b);
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  CHECK(f->alignment() == 64);
  CHECK(f->data_offset() == 128);
}

TEST_CASE("the reader accepts a hand-built file and reports its tensors", "[gguf][file]") {
  const auto path = temp_dir("gguf_handbuilt") / "v.gguf";
  valid_file().save(path);
  auto f = GgufFile::open(path);
  REQUIRE(f.ok());
  CHECK(f->find("general.name")->as<std::string>() == "t");
  REQUIRE(f->tensors().size() == 1);
  CHECK(f->tensors()[0].nbytes == 128);
  CHECK(f->data_offset() == 96);  // 24 header + 33 key/value + 33 tensor info = 90, padded to 32
}

TEST_CASE("malformed GGUF files are refused with one error each", "[gguf][file][errors]") {
  struct Case { std::string name; Bytes bytes; ErrorCode code; std::string thing_has; std::string reason_has; };
  std::vector<Case> cases;
  auto add = [&](std::string name, Bytes b, ErrorCode code, std::string thing, std::string reason) {
    cases.push_back({std::move(name), std::move(b), code, std::move(thing), std::move(reason)});
  };
  const auto C = ErrorCode::corrupt_input;
  add("empty", Bytes{}, C, "", "truncated");
  { Bytes b = valid_file(); std::memcpy(b.b.data(), "GGML", 4); add("bad_magic", b, C, "", "bad magic"); }
  add("version1", Bytes{}.header(0, 0, 1), ErrorCode::unsupported, "", "version 1");
  add("version4", Bytes{}.header(0, 0, 4), ErrorCode::unsupported, "", "version 4");
  add("big_endian", Bytes{}.header(0, 0, 0x03000000u), ErrorCode::unsupported, "", "big-endian");
  { Bytes b; b.raw("GGUF", 4).u32(3).u64(0); add("truncated_header", b, C, "", "truncated"); }
  add("absurd_tensor_count", Bytes{}.header(1ull << 60, 0).zeros(64), C, "", "absurd count");
  add("absurd_kv_count", Bytes{}.header(0, 1ull << 62).zeros(64), C, "", "absurd count");
  { Bytes b; b.header(0, 1).u64(1ull << 40).raw("key", 3).zeros(32); add("string_longer_than_file", b, C, "metadata entry 0", "longer than the rest of the file"); }
  add("empty_key", Bytes{}.header(0, 1).str("").u32(4).u32(1), C, "metadata entry 0", "empty key");
  add("unknown_value_type", Bytes{}.header(0, 1).str("k").u32(13).u32(0), C, "key 'k'", "unknown value type 13");
  add("array_of_arrays", Bytes{}.header(0, 1).str("k").u32(9).u32(9).u64(1), C, "key 'k'", "array of arrays");
  add("huge_array", Bytes{}.header(0, 1).str("k").u32(9).u32(6).u64(1ull << 61), C, "key 'k'", "longer than the rest of the file");
  add("huge_string_array", Bytes{}.header(0, 1).str("k").u32(9).u32(8).u64(1ull << 61), C, "key 'k'", "absurd array length");
  add("duplicate_key", Bytes{}.header(0, 2).kv_u32("k", 1).kv_u32("k", 2), C, "key 'k'", "duplicate key");
  add("alignment_not_pow2", Bytes{}.header(0, 1).kv_u32("general.alignment", 24), C, "general.alignment", "not a power of two");
  add("alignment_wrong_type", Bytes{}.header(0, 1).kv_string("general.alignment", "32"), C, "general.alignment", "requires u32");
  add("too_many_dims", Bytes{}.header(1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0).pad(32).zeros(32), C, "tensor 'w'", "5 dimensions");
  add("negative_dim", Bytes{}.header(1, 0).tensor("w", {~0ull}, 0, 0).pad(32), C, "tensor 'w'", "negative");
  add("overflowing_dims", Bytes{}.header(1, 0).tensor("w", {1ull << 40, 1ull << 40}, 0, 0).pad(32), C, "tensor 'w'", "overflows");
  add("unknown_type", Bytes{}.header(1, 0).tensor("w", {32}, 99, 0).pad(32).zeros(128), C, "tensor 'w'", "unknown ggml type id 99");
  add("removed_type", Bytes{}.header(1, 0).tensor("w", {32}, 4, 0).pad(32).zeros(128), C, "tensor 'w'", "unknown ggml type id 4");
  add("partial_block", Bytes{}.header(1, 0).tensor("w", {100}, 12, 0).pad(32).zeros(144), C, "tensor 'w'", "not whole blocks");
  add("misaligned_offset", Bytes{}.header(1, 0).tensor("w", {32}, 0, 8).pad(32).zeros(160), C, "tensor 'w'", "misaligned");
  add("overlap", Bytes{}.header(2, 0).tensor("a", {32}, 0, 0).tensor("b", {32}, 0, 64).pad(32).zeros(256), C, "tensor 'b'", "overlaps tensor 'a'");
  { Bytes b = valid_file(); b.b.resize(b.b.size() - 1); add("truncated_data", b, C, "tensor 'w'", "truncated"); }
  add("truncated_in_infos", Bytes{}.header(1, 0).str("w").u32(4).u64(32).u64(1), C, "tensor 'w'", "truncated");
  add("duplicate_tensor", Bytes{}.header(2, 0).tensor("w", {32}, 0, 0).tensor("w", {32}, 0, 128).pad(32).zeros(256), C, "tensor 'w'", "duplicate tensor name");
  add("long_name", Bytes{}.header(1, 0).tensor(std::string(64, 'n'), {32}, 0, 0).pad(32).zeros(128), C, "tensor 'nnn", "ggml allows 63");
  add("empty_name", Bytes{}.header(1, 0).tensor("", {32}, 0, 0).pad(32).zeros(128), C, "tensor info 0", "empty tensor name");
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const qrun::Error e = refused(c.bytes, c.name);
    CAPTURE(e.message());
    CHECK(e.code == c.code);
    CHECK(contains(e.thing, ".gguf"));
    CHECK(contains(e.thing, c.thing_has));
    CHECK(contains(e.reason, c.reason_has));
    CHECK_FALSE(e.fix.empty());
  }
}

TEST_CASE("every truncation and random corruption of a GGUF file is refused or read, never a crash",
          "[gguf][file][errors]") {
  const auto dir = temp_dir("gguf_fuzz");
  const auto path = dir / "m.gguf";
  std::vector<std::uint8_t> blocks(row_size(GgmlType::q6_K, 256) * 2, 7);
  REQUIRE(write_gguf(path, {{"general.architecture", Value::of("qwen2")},
                            {"tokenizer.ggml.tokens", Value::array_of(std::vector<std::string>{"a", "bc", "def"})},
                            {"scores", Value::array_of(std::vector<float>{1, 2, 3})}},
                     {{"a", {256, 2}, GgmlType::q6_K, blocks}, {"b", {256, 2}, GgmlType::q6_K, blocks}}).ok());
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The last tensor's zero padding is not data, so prefixes from its data end on are still whole files.
  const std::size_t data_end = good.size() - (32 - blocks.size() % 32) % 32;
  const auto cut = dir / "cut.gguf";
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::ofstream(cut, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(good.data()), static_cast<std::streamsize>(n));
    const bool ok = GgufFile::open(cut).ok();
    if (n < data_end) CHECK_FALSE(ok);
  }
  std::mt19937 rng(5);
  int refused_count = 0;
  for (int it = 0; it < 3000; ++it) {
    std::vector<std::uint8_t> bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) bad[rng() % bad.size()] = static_cast<std::uint8_t>(rng());
    std::ofstream(cut, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bad.data()), static_cast<std::streamsize>(bad.size()));
    auto f = GgufFile::open(cut);
    if (!f.ok()) {
      ++refused_count;
      continue;
    }
    for (const TensorInfo& t : f->tensors()) CHECK(f->data(t).size() == t.nbytes);  // every range inside the file
  }
  CHECK(refused_count > 0);
}

TEST_CASE("the writer refuses inconsistent tensors and leaves no file behind", "[gguf][file][errors]") {
  const auto dir = temp_dir("gguf_writer_errors");
  std::vector<std::uint8_t> ok_bytes(34), short_bytes(33);
  {
    GgufWriter w(dir / "a.gguf");
    REQUIRE(w.add_tensor("w", {32}, GgmlType::q8_0).ok());
    auto r = w.write_tensor("w", short_bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(contains(r.error().thing, "tensor 'w'"));
  }
  {
    GgufWriter w(dir / "b.gguf");
    CHECK_FALSE(w.add_tensor("w", {100}, GgmlType::q4_K).ok());               // not whole blocks
    CHECK_FALSE(w.add_tensor(std::string(64, 'x'), {32}, GgmlType::f32).ok());  // ggml's name limit
    CHECK_FALSE(w.add_metadata("general.alignment", Value::of<std::uint32_t>(3)).ok());
    REQUIRE(w.add_tensor("w", {32}, GgmlType::q8_0).ok());
    CHECK_FALSE(w.add_tensor("w", {32}, GgmlType::q8_0).ok());  // duplicate
    REQUIRE(w.add_tensor("v", {32}, GgmlType::q8_0).ok());
    CHECK_FALSE(w.write_tensor("v", ok_bytes).ok());  // out of order
  }
  {
    GgufWriter w(dir / "c.gguf");
    REQUIRE(w.add_tensor("w", {32}, GgmlType::q8_0).ok());
    auto r = w.finish();  // "w" never written
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().thing, "tensor 'w'"));
  }
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 0);
}
