// Named dtypes: spellings, aliases and the mapping to torch scalar types.
#include <qrun/dtype.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

TEST_CASE("every dtype parses back from its own name", "[dtype]") {
  for (auto d : {qrun::DType::f32, qrun::DType::f16, qrun::DType::bf16, qrun::DType::int8,
                 qrun::DType::u8}) {
    CHECK(qrun::parse_dtype(qrun::to_string(d)) == d);
  }
}

TEST_CASE("dtype aliases are accepted and auto is not a dtype", "[dtype]") {
  CHECK(qrun::parse_dtype("fp16") == qrun::DType::f16);
  CHECK(qrun::parse_dtype("bf16") == qrun::DType::bf16);
  CHECK(qrun::parse_dtype("f32") == qrun::DType::f32);
  CHECK_FALSE(qrun::parse_dtype("auto").has_value());
  CHECK_FALSE(qrun::parse_dtype("float64").has_value());
}

TEST_CASE("dtypes map to torch scalar types; quantization formats are not dtypes", "[dtype]") {
  CHECK(qrun::to_scalar_type(qrun::DType::bf16) == c10::ScalarType::BFloat16);
  CHECK(qrun::to_scalar_type(qrun::DType::int8) == c10::ScalarType::Char);
  CHECK(qrun::from_scalar_type(c10::ScalarType::Half) == qrun::DType::f16);
  CHECK_FALSE(qrun::from_scalar_type(c10::ScalarType::Double).has_value());
  CHECK_FALSE(qrun::parse_dtype("nf4").has_value());
  CHECK(qrun::to_scalar_type(qrun::DType::u8) == c10::ScalarType::Byte);
}

TEST_CASE("bits per element", "[dtype]") {
  CHECK(qrun::bits_per_element(qrun::DType::f32) == 32);
  CHECK(qrun::bits_per_element(qrun::DType::bf16) == 16);
  CHECK(qrun::bits_per_element(qrun::DType::int8) == 8);
  CHECK(qrun::bits_per_element(qrun::DType::u8) == 8);
}
