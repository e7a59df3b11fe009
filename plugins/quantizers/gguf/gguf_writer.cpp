// GGUF v3 writer (layout of ggml-org/ggml docs/gguf.md, as gguf_write_to_file writes it: header,
// metadata, tensor infos, zero padding to the alignment, then each tensor's bytes padded with zeros
// to the alignment). Written to "<path>.tmp" and renamed into place by finish().
#include "gguf_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace qrun::gguf {
namespace {

std::uint64_t pad_to(std::uint64_t x, std::uint64_t align) { return x + (align - x % align) % align; }

void put_bytes(std::vector<std::uint8_t>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}
template <class T> void put(std::vector<std::uint8_t>& out, T v) { put_bytes(out, &v, sizeof v); }
void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

void put_value(std::vector<std::uint8_t>& out, const Value& v) {
  if (v.is_array) {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(ValueType::array));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(v.type));
    put<std::uint64_t>(out, v.size());
  } else {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(v.type));
  }
  if (v.type == ValueType::string) {
    for (const std::string& s : v.strings) put_string(out, s);
  } else {
    put_bytes(out, v.bytes.data(), v.bytes.size());
  }
}

Error bad_arg(const std::string& thing, const std::string& reason, const std::string& fix) {
  return Error::of(ErrorCode::invalid_argument, thing, reason, fix);
}

}  // namespace

GgufWriter::~GgufWriter() {
  if (out_) {  // not finished: leave nothing behind
    std::fclose(out_);
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

Result<void> GgufWriter::add_metadata(std::string key, Value value) {
  const std::string thing = path_.string() + " key '" + key + "'";
  if (out_ || failed_) return bad_arg(thing, "metadata added after tensor data", "add all metadata before write_tensor");
  if (key.empty()) return bad_arg(path_.string(), "empty metadata key", "give every metadata entry a key");
  for (const KeyValue& kv : kv_)
    if (kv.key == key) return bad_arg(thing, "duplicate key", "add each key once");
  const std::size_t w = detail::value_type_size(value.type);
  const bool well_formed = value.type == ValueType::string
                               ? (value.is_array || value.strings.size() == 1) && value.bytes.empty()
                               : w != 0 && value.bytes.size() % w == 0 && (value.is_array || value.bytes.size() == w);
  if (!well_formed) return bad_arg(thing, "malformed value (type, element count or byte size)", "build values with Value::of / Value::array_of");
  if (key == "general.alignment") {
    const auto a = value.as<std::uint32_t>();
    if (!a || *a == 0 || (*a & (*a - 1)) != 0) return bad_arg(thing, "must be a u32 power of two", "use e.g. Value::of<std::uint32_t>(32)");
    if (!tensors_.empty()) return bad_arg(thing, "set after tensors were declared", "add general.alignment first");
    alignment_ = *a;
  }
  kv_.push_back({std::move(key), std::move(value)});
  return {};
}

Result<void> GgufWriter::add_tensor(std::string name, std::vector<std::int64_t> ne, GgmlType type) {
  const std::string thing = path_.string() + " tensor '" + name + "'";
  if (out_ || failed_) return bad_arg(thing, "declared after tensor data", "declare every tensor before write_tensor");
  if (name.empty() || name.size() > kMaxTensorName)
    return bad_arg(thing, "name of " + std::to_string(name.size()) + " bytes; ggml needs 1.." + std::to_string(kMaxTensorName),
                   "shorten the tensor name");
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return bad_arg(thing, "duplicate tensor name", "declare each tensor once");
  if (ne.empty() || ne.size() > static_cast<std::size_t>(kMaxDims))
    return bad_arg(thing, std::to_string(ne.size()) + " dimensions; GGUF tensors have 1..4", "reshape the tensor");
  std::int64_t elements = 1;
  for (std::int64_t d : ne)
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements)) return bad_arg(thing, "negative or overflowing shape", "check the shape");
  const TypeTraits& tr = traits(type);
  if (ne[0] % tr.block_size != 0)
    return bad_arg(thing, std::string(tr.name) + " needs rows that are whole blocks of " + std::to_string(tr.block_size) +
                              " values, ne[0] is " + std::to_string(ne[0]), "pick a type whose block size divides the row");
  TensorInfo t;
  t.name = std::move(name);
  t.ne = std::move(ne);
  t.type = type;
  t.nbytes = static_cast<std::uint64_t>(elements / tr.block_size) * tr.type_size;
  t.offset = tensors_.empty() ? 0 : pad_to(tensors_.back().offset + tensors_.back().nbytes, alignment_);
  tensors_.push_back(std::move(t));
  return {};
}

Result<void> GgufWriter::begin_data() {
  std::vector<std::uint8_t> head;
  put_bytes(head, "GGUF", 4);
  put<std::uint32_t>(head, kGgufVersion);
  put<std::uint64_t>(head, tensors_.size());
  put<std::uint64_t>(head, kv_.size());
  for (const KeyValue& kv : kv_) {
    put_string(head, kv.key);
    put_value(head, kv.value);
  }
  for (const TensorInfo& t : tensors_) {
    put_string(head, t.name);
    put<std::uint32_t>(head, static_cast<std::uint32_t>(t.ne.size()));
    for (std::int64_t d : t.ne) put<std::int64_t>(head, d);
    put<std::uint32_t>(head, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(head, t.offset);
  }
  head.resize(pad_to(head.size(), alignment_), 0);
  tmp_ = path_;
  tmp_ += ".tmp";
  out_ = std::fopen(tmp_.string().c_str(), "wb");
  if (!out_) {
    failed_ = true;
    return Error::of(ErrorCode::io, tmp_.string(), std::strerror(errno), "check that the output folder exists and is writable");
  }
  if (std::fwrite(head.data(), 1, head.size(), out_) != head.size()) {
    failed_ = true;
    return Error::of(ErrorCode::io, tmp_.string(), "write failed", "check free disk space");
  }
  return {};
}

Result<void> GgufWriter::write_tensor(std::string_view name, std::span<const std::uint8_t> bytes) {
  if (failed_) return Error::of(ErrorCode::internal, path_.string(), "an earlier write failed", "");
  if (!out_) QRUN_TRY(begin_data());
  if (next_tensor_ >= tensors_.size())
    return bad_arg(path_.string() + " tensor '" + std::string(name) + "'", "not declared, or written twice", "declare it with add_tensor");
  const TensorInfo& t = tensors_[next_tensor_];
  const std::string thing = path_.string() + " tensor '" + std::string(name) + "'";
  if (t.name != name) return bad_arg(thing, "written out of order; expected '" + t.name + "'", "write tensors in declaration order");
  if (bytes.size() != t.nbytes)
    return bad_arg(thing, std::to_string(bytes.size()) + " bytes given, its shape and type need " + std::to_string(t.nbytes),
                   "pass the tensor's ggml blocks");
  static const std::uint8_t zeros[256] = {};
  const std::uint64_t padding = pad_to(t.nbytes, alignment_) - t.nbytes;
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), out_) == bytes.size();
  for (std::uint64_t left = padding; ok && left > 0;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof zeros));
    ok = std::fwrite(zeros, 1, n, out_) == n;
    left -= n;
  }
  if (!ok) {
    failed_ = true;
    return Error::of(ErrorCode::io, tmp_.string(), "write failed", "check free disk space");
  }
  ++next_tensor_;
  return {};
}

Result<void> GgufWriter::finish() {
  if (failed_) return Error::of(ErrorCode::internal, path_.string(), "an earlier write failed", "");
  if (!out_) QRUN_TRY(begin_data());
  if (next_tensor_ != tensors_.size())
    return bad_arg(path_.string() + " tensor '" + tensors_[next_tensor_].name + "'", "declared but never written",
                   "write every declared tensor before finish");
  const bool flushed = std::fflush(out_) == 0;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  std::error_code ec;
  if (!flushed || !closed) {
    std::filesystem::remove(tmp_, ec);
    return Error::of(ErrorCode::io, tmp_.string(), "write failed", "check free disk space");
  }
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) {
    std::filesystem::remove(tmp_, ec);
    return Error::of(ErrorCode::io, path_.string(), "cannot rename the finished file into place", "check the output folder");
  }
  return {};
}

Result<void> write_gguf(const std::filesystem::path& path, const std::vector<KeyValue>& metadata,
                        const std::vector<TensorData>& tensors) {
  GgufWriter w(path);
  for (const KeyValue& kv : metadata) QRUN_TRY(w.add_metadata(kv.key, kv.value));
  for (const TensorData& t : tensors) QRUN_TRY(w.add_tensor(t.name, t.ne, t.type));
  for (const TensorData& t : tensors) QRUN_TRY(w.write_tensor(t.name, t.bytes));
  return w.finish();
}

}  // namespace qrun::gguf
