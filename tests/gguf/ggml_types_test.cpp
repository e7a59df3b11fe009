// qrun's ggml quantization types against ggml's own bytes: ../shared/quant-refs/ggml_d99724f2.safetensors,
// made by ggml_quantize_chunk (and the type's to_float) at ggml commit d99724f2 (see its README).
// Every block of every type must be identical, with and without the importance matrix, on every
// matrix in the file; dequantization must equal ggml's to_float bit for bit.
#include "support/assets.hpp"

#include <ggml_fp16.hpp>
#include <ggml_types.hpp>
#include <qrun/safetensors.hpp>

#include <ATen/ATen.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace qrun::gguf;

namespace {

const char* kRefs = "quant-refs/ggml_d99724f2.safetensors";

qrun::SafetensorsFile open_refs() {
  auto f = qrun::SafetensorsFile::open(qrun::test::asset(kRefs));
  if (!f.ok()) FAIL(f.error().message());
  return std::move(f).value();
}

// The named tensor's bytes; fails the test when the reference file lacks it.
std::vector<std::uint8_t> bytes_of(const qrun::SafetensorsFile& f, const std::string& name) {
  auto t = f.load(name);
  if (!t.ok()) FAIL("reference tensor " << name << ": " << t.error().message());
  const at::Tensor& v = *t;
  const auto* p = static_cast<const std::uint8_t*>(v.data_ptr());
  return {p, p + v.numel() * static_cast<std::int64_t>(v.element_size())};
}

std::vector<float> floats_of(const qrun::SafetensorsFile& f, const std::string& name) {
  const auto b = bytes_of(f, name);
  std::vector<float> v(b.size() / sizeof(float));
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

// The matrices of the file: every "input.<M>" tensor, with its shape.
struct Matrix { std::string name; std::int64_t rows, cols; };
std::vector<Matrix> matrices(const qrun::SafetensorsFile& f) {
  std::vector<Matrix> out;
  for (const auto& e : f.entries())
    if (e.name.rfind("input.", 0) == 0 && e.shape.size() == 2) out.push_back({e.name.substr(6), e.shape[0], e.shape[1]});
  return out;
}

std::size_t differing_blocks(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b, std::size_t block_bytes,
                             std::size_t* first) {
  std::size_t n = 0;
  *first = a.size() / block_bytes;
  for (std::size_t i = 0; i < a.size() / block_bytes; ++i) {
    if (std::memcmp(a.data() + i * block_bytes, b.data() + i * block_bytes, block_bytes) != 0) {
      if (n == 0) *first = i;
      ++n;
    }
  }
  return n;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("every ggml type quantizes every reference matrix to ggml's bytes, without and with the imatrix",
          "[gguf][ggml]") {
  const auto f = open_refs();
  const auto ms = matrices(f);
  REQUIRE(ms.size() == 4);  // A (Gaussian), D (outlier columns), E (heavy tails), Z (zeros, lone values)
  std::size_t blocks_checked = 0;
  for (const Matrix& m : ms) {
    const auto x = floats_of(f, "input." + m.name);
    const auto imatrix = floats_of(f, "imatrix." + m.name);
    REQUIRE(imatrix.size() == static_cast<std::size_t>(m.cols));
    for (GgmlType t : quantized_types()) {
      for (bool with_imatrix : {false, true}) {
        const std::string ref_name = std::string(type_name(t)) + "." + m.name + (with_imatrix ? ".im" : "") + ".q";
        CAPTURE(ref_name);
        const auto expected = bytes_of(f, ref_name);
        std::vector<std::uint8_t> got(row_size(t, m.cols) * static_cast<std::size_t>(m.rows));
        REQUIRE(got.size() == expected.size());
        const std::size_t written =
            quantize_rows(t, x.data(), got.data(), m.rows, m.cols, with_imatrix ? imatrix.data() : nullptr);
        REQUIRE(written == expected.size());
        std::size_t first = 0;
        const std::size_t bad = differing_blocks(got, expected, traits(t).type_size, &first);
        CAPTURE(first);
        CHECK(bad == 0);
        blocks_checked += got.size() / traits(t).type_size;
      }
    }
  }
  // 13 types x 2 paths over A 32x512, D 16x2048, E 16x256, Z 4x256.
  CHECK(blocks_checked == 26288);
}

TEST_CASE("dequantization equals ggml's to_float bit for bit", "[gguf][ggml]") {
  const auto f = open_refs();
  int compared = 0;
  for (const Matrix& m : matrices(f)) {
    for (GgmlType t : quantized_types()) {
      for (const char* path : {"", ".im"}) {
        const std::string stem = std::string(type_name(t)) + "." + m.name + path;
        if (!f.find(stem + ".deq")) continue;  // the file has ggml's dequantization for matrix E
        CAPTURE(stem);
        const auto blocks = bytes_of(f, stem + ".q");
        const auto expected = floats_of(f, stem + ".deq");
        std::vector<float> got(static_cast<std::size_t>(m.rows * m.cols));
        dequantize_values(t, blocks.data(), got.data(), m.rows * m.cols);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < got.size(); ++i) bad += !same_bits(got[i], expected[i]);
        CHECK(bad == 0);
        ++compared;
      }
    }
  }
  CHECK(compared == 26);  // every type, both paths, on matrix E
}

TEST_CASE("dequantization reads blocks at any byte offset and quantization writes them at any offset",
          "[gguf][ggml]") {
  const auto f = open_refs();
  const auto x = floats_of(f, "input.E");
  for (GgmlType t : quantized_types()) {
    CAPTURE(type_name(t));
    const std::size_t n = row_size(t, 256) * 16;
    std::vector<std::uint8_t> aligned(n), shifted(n + 1);
    (void)quantize_rows(t, x.data(), aligned.data(), 16, 256, nullptr);
    (void)quantize_rows(t, x.data(), shifted.data() + 1, 16, 256, nullptr);
    CHECK(std::memcmp(aligned.data(), shifted.data() + 1, n) == 0);
    std::vector<float> a(16 * 256), b(16 * 256);
    dequantize_values(t, aligned.data(), a.data(), 16 * 256);
    dequantize_values(t, shifted.data() + 1, b.data(), 16 * 256);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("type names are ggml_type_name's and parse case-insensitively", "[gguf][ggml]") {
  const std::vector<std::string> names = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K",
                                          "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs", "mxfp4"};
  const auto types = quantized_types();
  REQUIRE(types.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(type_name(types[i]) == names[i]);
    CHECK(parse_type(names[i]) == types[i]);
    std::string upper = names[i];
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(parse_type(upper) == types[i]);
  }
  CHECK(parse_type("Q4_k") == GgmlType::q4_K);
  CHECK(parse_type("F16") == GgmlType::f16);
  CHECK_FALSE(parse_type("q4_K_M").has_value());  // a mix name, not a type
  CHECK_FALSE(parse_type("q4").has_value());
  CHECK_FALSE(parse_type("").has_value());
  // GGUF type ids (include/ggml.h enum ggml_type)
  CHECK(static_cast<std::uint32_t>(GgmlType::q4_K) == 12);
  CHECK(static_cast<std::uint32_t>(GgmlType::iq4_xs) == 23);
  CHECK(static_cast<std::uint32_t>(GgmlType::mxfp4) == 39);
  CHECK_FALSE(type_traits(4).has_value());  // removed q4_2
  CHECK_FALSE(type_traits(43).has_value());
}

TEST_CASE("row sizes equal the bytes ggml wrote per matrix", "[gguf][ggml]") {
  const auto f = open_refs();
  for (const Matrix& m : matrices(f)) {
    for (GgmlType t : quantized_types()) {
      const auto* e = f.find(std::string(type_name(t)) + "." + m.name + ".q");
      REQUIRE(e != nullptr);
      CHECK(row_size(t, m.cols) * static_cast<std::uint64_t>(m.rows) == e->end - e->begin);
    }
  }
}

TEST_CASE("fp16 conversions round to nearest even like the compiler's _Float16", "[gguf][ggml]") {
  // Oracle: GCC's _Float16 (IEEE binary16, round to nearest even), independent of ggml's bit tricks.
  std::size_t bad = 0;
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    _Float16 v;
    std::memcpy(&v, &bits, 2);
    const float exact = static_cast<float>(v);
    const float got = fp16_to_fp32(bits);
    if (std::isnan(exact)) {
      bad += !std::isnan(got);
      continue;
    }
    bad += !same_bits(got, exact);
    // The float itself, its neighbours, and the midpoints to the next half (ties) all round as IEEE does.
    const auto next = static_cast<std::uint16_t>(h + 1);
    _Float16 vn;
    std::memcpy(&vn, &next, 2);
    const float mid = std::isfinite(static_cast<float>(vn)) && (h & 0x7fff) < 0x7bff
                          ? exact + (static_cast<float>(vn) - exact) / 2 : exact;
    for (float probe : {exact, std::nextafter(exact, 1e9f), std::nextafter(exact, -1e9f), mid,
                        std::nextafter(mid, 1e9f), std::nextafter(mid, -1e9f)}) {
      const _Float16 r = static_cast<_Float16>(probe);
      std::uint16_t rb;
      std::memcpy(&rb, &r, 2);
      bad += fp32_to_fp16(probe) != rb;
    }
  }
  CHECK(bad == 0);
  CHECK(fp32_to_fp16(1e6f) == 0x7c00);   // overflow to +inf
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);  // the sign of zero is kept
}

TEST_CASE("nearest_int rounds half to even", "[gguf][ggml]") {
  CHECK(nearest_int(0.5f) == 0);
  CHECK(nearest_int(1.5f) == 2);
  CHECK(nearest_int(2.5f) == 2);
  CHECK(nearest_int(-0.5f) == 0);
  CHECK(nearest_int(-1.5f) == -2);
  CHECK(nearest_int(std::nextafter(0.5f, 1.f)) == 1);
  std::size_t bad = 0;
  for (int i = -40000; i <= 40000; ++i) {
    const float v = static_cast<float>(i) * 0.125f;
    bad += nearest_int(v) != static_cast<int>(std::nearbyint(v));  // default mode: ties to even
  }
  CHECK(bad == 0);
}

TEST_CASE("e8m0 half scales are 2^(e-128), subnormal for e < 2", "[gguf][ggml]") {
  CHECK(e8m0_to_fp32_half(128) == 1.0f);
  CHECK(e8m0_to_fp32_half(127) == 0.5f);
  CHECK(e8m0_to_fp32_half(1) == std::ldexp(1.0f, -127));
  CHECK(e8m0_to_fp32_half(0) == std::ldexp(1.0f, -128));
  CHECK(e8m0_to_fp32_half(254) == std::ldexp(1.0f, 126));
}
