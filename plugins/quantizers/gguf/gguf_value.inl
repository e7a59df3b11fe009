// Templates of qrun::gguf::Value (included by gguf_file.hpp).
#pragma once

#include <cstring>
#include <type_traits>

namespace qrun::gguf {

namespace detail {
template <class T> struct ValueTypeOf;
template <> struct ValueTypeOf<std::uint8_t> { static constexpr ValueType value = ValueType::u8; };
template <> struct ValueTypeOf<std::int8_t> { static constexpr ValueType value = ValueType::i8; };
template <> struct ValueTypeOf<std::uint16_t> { static constexpr ValueType value = ValueType::u16; };
template <> struct ValueTypeOf<std::int16_t> { static constexpr ValueType value = ValueType::i16; };
template <> struct ValueTypeOf<std::uint32_t> { static constexpr ValueType value = ValueType::u32; };
template <> struct ValueTypeOf<std::int32_t> { static constexpr ValueType value = ValueType::i32; };
template <> struct ValueTypeOf<float> { static constexpr ValueType value = ValueType::f32; };
template <> struct ValueTypeOf<bool> { static constexpr ValueType value = ValueType::boolean; };
template <> struct ValueTypeOf<std::uint64_t> { static constexpr ValueType value = ValueType::u64; };
template <> struct ValueTypeOf<std::int64_t> { static constexpr ValueType value = ValueType::i64; };
template <> struct ValueTypeOf<double> { static constexpr ValueType value = ValueType::f64; };

// Bytes per element of a numeric or bool value type (0 for string and array).
constexpr std::size_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::u8: case ValueType::i8: case ValueType::boolean: return 1;
    case ValueType::u16: case ValueType::i16: return 2;
    case ValueType::u32: case ValueType::i32: case ValueType::f32: return 4;
    case ValueType::u64: case ValueType::i64: case ValueType::f64: return 8;
    default: return 0;
  }
}

template <class T> void append_le(std::vector<std::uint8_t>& out, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    out.push_back(v ? 1 : 0);
  } else {
    const std::size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));  // little-endian host (checked in ggml_types.cpp)
  }
}
template <class T> T read_le(const std::uint8_t* p) {
  if constexpr (std::is_same_v<T, bool>) {
    return *p != 0;
  } else {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
}
}  // namespace detail

inline std::uint64_t Value::size() const {
  if (type == ValueType::string) return strings.size();
  const std::size_t w = detail::value_type_size(type);
  return w ? bytes.size() / w : 0;
}

template <class T> Value Value::of(T v) {
  Value out;
  out.type = detail::ValueTypeOf<T>::value;
  detail::append_le(out.bytes, v);
  return out;
}
inline Value Value::of(std::string s) {
  Value out;
  out.type = ValueType::string;
  out.strings.push_back(std::move(s));
  return out;
}
template <class T> Value Value::array_of(const std::vector<T>& v) {
  Value out;
  out.type = detail::ValueTypeOf<T>::value;
  out.is_array = true;
  for (const T& x : v) detail::append_le(out.bytes, static_cast<T>(x));
  return out;
}
inline Value Value::array_of(std::vector<std::string> v) {
  Value out;
  out.type = ValueType::string;
  out.is_array = true;
  out.strings = std::move(v);
  return out;
}

template <class T> std::optional<T> Value::as() const {
  if (is_array) return std::nullopt;
  if constexpr (std::is_same_v<T, std::string>) {
    if (type != ValueType::string || strings.size() != 1) return std::nullopt;
    return strings[0];
  } else {
    if (type != detail::ValueTypeOf<T>::value || bytes.size() != detail::value_type_size(type)) return std::nullopt;
    return detail::read_le<T>(bytes.data());
  }
}

template <class T> std::optional<std::vector<T>> Value::as_array() const {
  if (!is_array) return std::nullopt;
  if constexpr (std::is_same_v<T, std::string>) {
    if (type != ValueType::string) return std::nullopt;
    return strings;
  } else {
    if (type != detail::ValueTypeOf<T>::value) return std::nullopt;
    const std::size_t w = detail::value_type_size(type);
    std::vector<T> out(bytes.size() / w);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = detail::read_le<T>(bytes.data() + i * w);
    return out;
  }
}

}  // namespace qrun::gguf
