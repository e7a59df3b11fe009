// GGUF files (ggml-org/ggml docs/gguf.md; reader rules as ggml's gguf_init_from_file, src/gguf.cpp):
//   header        "GGUF", uint32 version (2 or 3), uint64 tensor count, uint64 metadata count
//   metadata      key (uint64 length + bytes), uint32 value type, value; arrays: uint32 element
//                 type, uint64 count, elements (no arrays of arrays)
//   tensor infos  name, uint32 n_dims (<= 4), uint64 ne[n_dims] (ne[0]: values per row), uint32
//                 ggml type, uint64 offset into the data section
//   data          at the first multiple of the alignment (general.alignment, uint32 power of two,
//                 default 32) after the infos; every tensor offset a multiple of the alignment.
// Little-endian only. The reader is written for hostile input: every malformed file gives one
// qrun::Error naming the file and the offending key or tensor, never a crash or a huge allocation.
#pragma once

#include "ggml_types.hpp"

#include <qrun/error.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qrun::gguf {

inline constexpr std::uint32_t kGgufVersion = 3;
inline constexpr std::uint32_t kDefaultAlignment = 32;
inline constexpr std::size_t kMaxTensorName = 63;  // GGML_MAX_NAME - 1
inline constexpr int kMaxDims = 4;                  // GGML_MAX_DIMS

enum class ValueType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};
std::string_view value_type_name(ValueType t);  // gguf_type_name: "u8", "i8", ..., "str", "arr"

// A metadata value: one scalar, one string, or an array of scalars or strings of one type.
// Numbers are held as their little-endian bytes (as GGUF stores them), strings separately.
struct Value {
  ValueType type = ValueType::u8;  // the scalar's type, or the elements' type of an array
  bool is_array = false;
  std::vector<std::uint8_t> bytes;   // numeric and bool elements, packed
  std::vector<std::string> strings;  // string elements

  std::uint64_t size() const;  // number of elements (1 for a scalar)

  template <class T> static Value of(T v);                           // a scalar
  static Value of(std::string s);
  static Value of(const char* s) { return of(std::string(s)); }
  template <class T> static Value array_of(const std::vector<T>& v);  // an array
  static Value array_of(std::vector<std::string> v);

  // The scalar of exactly type T (bool, the fixed-width ints, float, double, std::string), or nullopt.
  template <class T> std::optional<T> as() const;
  // The array of exactly element type T, or nullopt.
  template <class T> std::optional<std::vector<T>> as_array() const;
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  std::vector<std::int64_t> ne;  // ggml order: ne[0] is the row (innermost, contiguous) length
  GgmlType type = GgmlType::f32;
  std::uint64_t offset = 0;      // into the data section
  std::uint64_t nbytes = 0;
  std::int64_t n_elements() const;
};

class GgufFile {
 public:
  // Maps and validates the whole file (header, metadata, tensor infos, every data range).
  static Result<GgufFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  std::uint32_t version() const { return version_; }
  std::uint32_t alignment() const { return alignment_; }
  std::uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes, inside the mapping (valid while any copy of this GgufFile lives).
  std::span<const std::uint8_t> data(const TensorInfo& t) const;

  struct Mapping;

 private:
  std::filesystem::path path_;
  std::uint32_t version_ = kGgufVersion;
  std::uint32_t alignment_ = kDefaultAlignment;
  std::uint64_t data_offset_ = 0;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  std::shared_ptr<Mapping> map_;
  friend class GgufParser;
};

// Writes a GGUF v3 file in two steps, so tensor data can be produced one tensor at a time:
// declare everything, then `write_tensor` each declared tensor in declaration order, then `finish`
// (which renames the temporary file into place). The alignment is general.alignment when that key
// is given (a uint32 power of two), else 32. Tensor data is padded with zeros to the alignment.
class GgufWriter {
 public:
  explicit GgufWriter(std::filesystem::path path) : path_(std::move(path)) {}
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  Result<void> add_metadata(std::string key, Value value);
  Result<void> add_tensor(std::string name, std::vector<std::int64_t> ne, GgmlType type);
  Result<void> write_tensor(std::string_view name, std::span<const std::uint8_t> bytes);
  Result<void> finish();

 private:
  Result<void> begin_data();
  std::filesystem::path path_;
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  std::size_t next_tensor_ = 0;
  std::uint32_t alignment_ = kDefaultAlignment;
  std::FILE* out_ = nullptr;
  std::filesystem::path tmp_;
  bool failed_ = false;
};

// One call for tensors already in memory: metadata, then {info, bytes} pairs in file order.
struct TensorData {
  std::string name;
  std::vector<std::int64_t> ne;
  GgmlType type;
  std::span<const std::uint8_t> bytes;
};
Result<void> write_gguf(const std::filesystem::path& path, const std::vector<KeyValue>& metadata,
                        const std::vector<TensorData>& tensors);

}  // namespace qrun::gguf

#include "gguf_value.inl"
