// GGUF reader: maps the file and validates everything before handing out any tensor (the checks of
// ggml's gguf_init_from_file in ggml-org/ggml src/gguf.cpp, plus bounds for every data range and
// overlaps). Each malformed file gives one Error: thing = the file (and key or tensor), a reason and a fix.
#include "gguf_file.hpp"

#include <algorithm>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace qrun::gguf {

std::string_view value_type_name(ValueType t) {
  static constexpr std::string_view names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                               "bool", "str", "arr", "u64", "i64", "f64"};
  const auto i = static_cast<std::uint32_t>(t);
  return i < std::size(names) ? names[i] : std::string_view("unknown");
}

std::int64_t TensorInfo::n_elements() const {
  std::int64_t n = 1;
  for (std::int64_t d : ne) n *= d;
  return n;
}

struct GgufFile::Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

const Value* GgufFile::find(std::string_view key) const {
  for (const KeyValue& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const std::uint8_t> GgufFile::data(const TensorInfo& t) const {
  const auto* base = static_cast<const std::uint8_t*>(map_->addr) + data_offset_;
  return {base + t.offset, static_cast<std::size_t>(t.nbytes)};
}

namespace {
const char* kFixCorrupt = "the file is not a valid GGUF file; re-download or re-export it";
constexpr std::uint64_t kMinKvBytes = 8 + 4 + 1;          // empty key length, type, smallest value
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

std::uint64_t pad_to(std::uint64_t x, std::uint64_t align) { return x + (align - x % align) % align; }
}  // namespace

// Reads the mapped bytes front to back; every read is bounds-checked against the file size.
class GgufParser {
 public:
  GgufParser(const std::filesystem::path& path, const std::uint8_t* p, std::uint64_t size)
      : path_(path.string()), p_(p), size_(size) {}

  Result<void> parse(GgufFile& f);

 private:
  Error corrupt(const std::string& where, const std::string& reason) const {
    return Error::of(ErrorCode::corrupt_input, where.empty() ? path_ : path_ + " " + where, reason, kFixCorrupt);
  }
  Error truncated(const std::string& where, const std::string& what, std::uint64_t need) const {
    return corrupt(where, "truncated: " + what + " at byte " + std::to_string(pos_) + " needs " + std::to_string(need) +
                              " bytes but the file ends at byte " + std::to_string(size_));
  }
  std::uint64_t remaining() const { return size_ - pos_; }

  template <class T> Result<T> read(const std::string& where, const std::string& what) {
    if (remaining() < sizeof(T)) return truncated(where, what, sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  Result<std::string> read_string(const std::string& where, const std::string& what) {
    QRUN_ASSIGN_OR_RETURN(const std::uint64_t n, read<std::uint64_t>(where, what + " length"));
    if (n > remaining())
      return corrupt(where, what + " at byte " + std::to_string(pos_ - 8) + " claims " + std::to_string(n) +
                                " bytes, longer than the rest of the file (" + std::to_string(remaining()) + " bytes)");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }

  Result<void> parse_header(GgufFile& f, std::uint64_t* n_tensors, std::uint64_t* n_kv);
  Result<KeyValue> parse_kv(std::uint64_t index);
  Result<Value> parse_value(const std::string& where, ValueType type, bool is_array);
  Result<void> parse_alignment(GgufFile& f);
  Result<TensorInfo> parse_tensor_info(std::uint64_t index, std::uint32_t alignment);
  Result<void> check_data_ranges(const GgufFile& f);

  std::string path_;
  const std::uint8_t* p_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
};

Result<void> GgufParser::parse_header(GgufFile& f, std::uint64_t* n_tensors, std::uint64_t* n_kv) {
  if (size_ < 4) return truncated("", "the magic", 4);
  if (std::memcmp(p_, "GGUF", 4) != 0) {
    std::string seen;
    for (int i = 0; i < 4; ++i) seen += (p_[i] >= 32 && p_[i] < 127) ? static_cast<char>(p_[i]) : '?';
    return Error::of(ErrorCode::corrupt_input, path_, "bad magic '" + seen + "', a GGUF file starts with 'GGUF'",
                     "pass a .gguf file (llama.cpp's model format)");
  }
  pos_ = 4;
  QRUN_ASSIGN_OR_RETURN(f.version_, read<std::uint32_t>("", "the version"));
  if (f.version_ != 0 && (f.version_ & 0xFFFFu) == 0)
    return Error::of(ErrorCode::unsupported, path_, "GGUF version field " + std::to_string(f.version_) +
                     " is byte-swapped: a big-endian GGUF file", "convert it to a little-endian GGUF");
  if (f.version_ < 2 || f.version_ > kGgufVersion)
    return Error::of(ErrorCode::unsupported, path_, "unsupported GGUF version " + std::to_string(f.version_) +
                     " (qrun reads versions 2 and 3)", "re-export the model with a current llama.cpp (GGUF v3)");
  QRUN_ASSIGN_OR_RETURN(*n_tensors, read<std::uint64_t>("", "the tensor count"));
  QRUN_ASSIGN_OR_RETURN(*n_kv, read<std::uint64_t>("", "the metadata count"));
  // Each entry needs a minimum number of bytes, so a count the file cannot hold is refused before
  // anything is allocated for it.
  auto too_many = [&](std::uint64_t n, const char* what, std::uint64_t min_bytes, std::uint64_t left) {
    return corrupt("", std::to_string(n) + " " + what + " need at least " + std::to_string(min_bytes) +
                           " bytes each but only " + std::to_string(left) + " bytes are left: an absurd count or a truncated file");
  };
  if (*n_kv > remaining() / kMinKvBytes) return too_many(*n_kv, "metadata entries", kMinKvBytes, remaining());
  const std::uint64_t left = remaining() - *n_kv * kMinKvBytes;
  if (*n_tensors > left / kMinTensorInfoBytes) return too_many(*n_tensors, "tensor infos", kMinTensorInfoBytes, left);
  return {};
}

Result<Value> GgufParser::parse_value(const std::string& where, ValueType type, bool is_array) {
  Value v;
  v.type = type;
  v.is_array = is_array;
  std::uint64_t n = 1;
  if (is_array) {
    QRUN_ASSIGN_OR_RETURN(const std::uint32_t elem, read<std::uint32_t>(where, "the array element type"));
    if (elem == static_cast<std::uint32_t>(ValueType::array)) return corrupt(where, "array of arrays (GGUF allows none)");
    if (elem > static_cast<std::uint32_t>(ValueType::f64)) return corrupt(where, "unknown array element type " + std::to_string(elem));
    v.type = static_cast<ValueType>(elem);
    QRUN_ASSIGN_OR_RETURN(n, read<std::uint64_t>(where, "the array length"));
  }
  if (v.type == ValueType::string) {
    if (n > remaining() / 8)
      return corrupt(where, "absurd array length " + std::to_string(n) + " (" + std::to_string(remaining()) + " bytes left)");
    v.strings.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i) {
      QRUN_ASSIGN_OR_RETURN(std::string s, read_string(where, is_array ? "string " + std::to_string(i) : "string"));
      v.strings.push_back(std::move(s));
    }
    return v;
  }
  const std::size_t w = detail::value_type_size(v.type);
  if (w == 0) return corrupt(where, "unknown value type " + std::to_string(static_cast<std::uint32_t>(v.type)));
  if (n > remaining() / w) {
    if (!is_array) return truncated(where, "the value", w);
    return corrupt(where, "array of " + std::to_string(n) + " " + std::string(value_type_name(v.type)) +
                              " values is longer than the rest of the file (" + std::to_string(remaining()) + " bytes)");
  }
  v.bytes.assign(p_ + pos_, p_ + pos_ + n * w);
  pos_ += n * w;
  return v;
}

Result<KeyValue> GgufParser::parse_kv(std::uint64_t index) {
  const std::string where = "metadata entry " + std::to_string(index);
  QRUN_ASSIGN_OR_RETURN(std::string key, read_string(where, "the key"));
  if (key.empty()) return corrupt(where, "empty key");
  const std::string kwhere = "key '" + key + "'";
  QRUN_ASSIGN_OR_RETURN(const std::uint32_t type, read<std::uint32_t>(kwhere, "the value type"));
  if (type > static_cast<std::uint32_t>(ValueType::f64)) return corrupt(kwhere, "unknown value type " + std::to_string(type));
  const bool is_array = type == static_cast<std::uint32_t>(ValueType::array);
  QRUN_ASSIGN_OR_RETURN(Value v, parse_value(kwhere, static_cast<ValueType>(type), is_array));
  return KeyValue{std::move(key), std::move(v)};
}

Result<void> GgufParser::parse_alignment(GgufFile& f) {
  const Value* a = f.find("general.alignment");
  if (!a) return {};
  const auto v = a->as<std::uint32_t>();
  if (!v)
    return corrupt("key 'general.alignment'", "is " + std::string(a->is_array ? "an array of " : "") +
                                                  std::string(value_type_name(a->type)) + ", GGUF requires u32");
  if (*v == 0 || (*v & (*v - 1)) != 0) return corrupt("key 'general.alignment'", std::to_string(*v) + " is not a power of two");
  f.alignment_ = *v;
  return {};
}

Result<TensorInfo> GgufParser::parse_tensor_info(std::uint64_t index, std::uint32_t alignment) {
  TensorInfo t;
  const std::string iwhere = "tensor info " + std::to_string(index);
  QRUN_ASSIGN_OR_RETURN(t.name, read_string(iwhere, "the tensor name"));
  if (t.name.empty()) return corrupt(iwhere, "empty tensor name");
  const std::string where = "tensor '" + t.name + "'";
  if (t.name.size() > kMaxTensorName)
    return corrupt(where, "name of " + std::to_string(t.name.size()) + " bytes, ggml allows " + std::to_string(kMaxTensorName));
  QRUN_ASSIGN_OR_RETURN(const std::uint32_t n_dims, read<std::uint32_t>(where, "the dimension count"));
  if (n_dims > kMaxDims) return corrupt(where, std::to_string(n_dims) + " dimensions, ggml allows at most 4");
  std::int64_t elements = 1;
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    QRUN_ASSIGN_OR_RETURN(const std::int64_t ne, read<std::int64_t>(where, "dimension " + std::to_string(d)));
    if (ne < 0) return corrupt(where, "dimension " + std::to_string(d) + " is negative (" + std::to_string(ne) + ")");
    if (__builtin_mul_overflow(elements, ne, &elements))
      return corrupt(where, "absurd shape: the element count overflows 64 bits");
    t.ne.push_back(ne);
  }
  QRUN_ASSIGN_OR_RETURN(const std::uint32_t type_id, read<std::uint32_t>(where, "the ggml type"));
  const auto traits = type_traits(type_id);
  if (!traits) return corrupt(where, "unknown ggml type id " + std::to_string(type_id));
  t.type = traits->type;
  const std::int64_t row = t.ne.empty() ? 1 : t.ne[0];
  if (row % traits->block_size != 0)
    return corrupt(where, std::string(traits->name) + " rows of " + std::to_string(row) + " values are not whole blocks of " +
                              std::to_string(traits->block_size));
  const auto blocks = static_cast<std::uint64_t>(elements / traits->block_size);
  if (__builtin_mul_overflow(blocks, static_cast<std::uint64_t>(traits->type_size), &t.nbytes))
    return corrupt(where, "absurd shape: the byte size overflows 64 bits");
  QRUN_ASSIGN_OR_RETURN(t.offset, read<std::uint64_t>(where, "the data offset"));
  if (t.offset % alignment != 0)
    return corrupt(where, "misaligned data offset " + std::to_string(t.offset) + " (not a multiple of the alignment " +
                              std::to_string(alignment) + ")");
  return t;
}

Result<void> GgufParser::check_data_ranges(const GgufFile& f) {
  if (f.tensors_.empty()) return {};
  if (f.data_offset_ > size_)
    return corrupt("", "truncated: the data section would start at byte " + std::to_string(f.data_offset_) +
                           " but the file ends at byte " + std::to_string(size_));
  const std::uint64_t data_size = size_ - f.data_offset_;
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : f.tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      return corrupt("tensor '" + t.name + "'", "truncated: its " + std::to_string(t.nbytes) + " bytes at data offset " +
                                                    std::to_string(t.offset) + " run past the end of the file (data section of " +
                                                    std::to_string(data_size) + " bytes)");
    if (t.nbytes > 0) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    const TensorInfo& cur = *by_offset[i];
    if (cur.offset < prev.offset + prev.nbytes)
      return corrupt("tensor '" + cur.name + "'", "data at offset " + std::to_string(cur.offset) + " overlaps tensor '" +
                                                      prev.name + "' (bytes " + std::to_string(prev.offset) + ".." +
                                                      std::to_string(prev.offset + prev.nbytes) + ")");
  }
  return {};
}

Result<void> GgufParser::parse(GgufFile& f) {
  std::uint64_t n_tensors = 0, n_kv = 0;
  QRUN_TRY(parse_header(f, &n_tensors, &n_kv));
  std::unordered_set<std::string> keys;
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    QRUN_ASSIGN_OR_RETURN(KeyValue kv, parse_kv(i));
    if (!keys.insert(kv.key).second) return corrupt("key '" + kv.key + "'", "duplicate key");
    f.kv_.push_back(std::move(kv));
  }
  QRUN_TRY(parse_alignment(f));
  std::unordered_set<std::string> names;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    QRUN_ASSIGN_OR_RETURN(TensorInfo t, parse_tensor_info(i, f.alignment_));
    if (!names.insert(t.name).second) return corrupt("tensor '" + t.name + "'", "duplicate tensor name");
    f.tensors_.push_back(std::move(t));
  }
  f.data_offset_ = pad_to(pos_, f.alignment_);
  return check_data_ranges(f);
}

Result<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  const std::string p = path.string();
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return Error::of(e == ENOENT ? ErrorCode::not_found : ErrorCode::io, p, std::strerror(e), "check the path");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error::of(ErrorCode::io, p, "not a regular file", "pass a .gguf file");
  }
  GgufFile f;
  f.path_ = path;
  f.map_ = std::make_shared<Mapping>();
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > 0) {
    void* addr = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return Error::of(ErrorCode::io, p, std::string("cannot map the file: ") + std::strerror(e), "check free memory and the file");
    }
    f.map_->addr = addr;
    f.map_->size = static_cast<std::size_t>(size);
  }
  ::close(fd);
  GgufParser parser(path, static_cast<const std::uint8_t*>(f.map_->addr), size);
  QRUN_TRY(parser.parse(f));
  return f;
}

}  // namespace qrun::gguf
