// safetensors reader (hostile input) and atomic writer.
// Format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, N bytes
// of UTF-8 JSON {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets"}}, then
// the data section; data_offsets are [begin, end) relative to the data section.
#include <qrun/safetensors.hpp>

#include "safetensors/safetensors_dtypes.hpp"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

namespace qrun {

// The largest header we accept; the reference implementation's MAX_HEADER_SIZE (safetensors
// crate, lib.rs) is 100 MB, which no real checkpoint approaches.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

struct SafetensorsFile::Mapping {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data != nullptr) ::munmap(const_cast<std::uint8_t*>(data), size);
  }
};

namespace {

std::string tensor_thing(const std::filesystem::path& path, const std::string& name) {
  return path.string() + " tensor '" + name + "'";
}

Error corrupt(const std::filesystem::path& path, std::string reason) {
  return Error{path.string(), std::move(reason),
               "re-download or re-export the file; it is not a valid safetensors file"};
}

Error corrupt_tensor(const std::filesystem::path& path, const std::string& name, std::string reason) {
  return Error{tensor_thing(path, name), std::move(reason),
               "re-download or re-export the file; its header is inconsistent"};
}

// Reads a non-negative JSON integer that fits in uint64.
bool as_u64(const nlohmann::json& j, std::uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    return true;
  }
  return false;
}

Result<TensorEntry> parse_entry(const std::filesystem::path& path, const std::string& name,
                                const nlohmann::json& v) {
  if (!v.is_object()) return corrupt_tensor(path, name, "header entry is not a JSON object");
  for (const auto& [key, _] : v.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      return corrupt_tensor(path, name, "unknown header field '" + key + "'");
  }
  TensorEntry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return corrupt_tensor(path, name, "missing string field 'dtype'");
  e.dtype = dt->get<std::string>();
  const auto info = safetensors_dtype(e.dtype);
  if (!info)
    return Error{tensor_thing(path, name), "unsupported dtype '" + e.dtype + "'",
                 "qrun reads F64, F32, F16, BF16, I64, I32, I16, I8, U8 and BOOL; convert the tensor"};
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) return corrupt_tensor(path, name, "missing array field 'shape'");
  // numel * element size, checked for overflow at every step.
  std::uint64_t bytes = info->bytes;
  for (const auto& d : *sh) {
    std::uint64_t dim = 0;
    if (!as_u64(d, dim) || dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return corrupt_tensor(path, name, "shape entry " + d.dump() + " is not a non-negative integer");
    if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim)
      return corrupt_tensor(path, name, "shape " + sh->dump() + " overflows 64-bit byte counts");
    bytes *= dim;
    e.shape.push_back(static_cast<std::int64_t>(dim));
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !as_u64((*off)[0], e.begin) ||
      !as_u64((*off)[1], e.end))
    return corrupt_tensor(path, name, "'data_offsets' must be two non-negative integers [begin, end]");
  if (e.end < e.begin)
    return corrupt_tensor(path, name,
                          "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                              "] end before begin");
  if (e.end - e.begin != bytes)
    return corrupt_tensor(path, name,
                          "data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " +
                              sh->dump() + " of " + e.dtype + " needs " + std::to_string(bytes));
  return e;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error{path.string(), std::string("cannot open: ") + std::strerror(errno),
                 "check that the file exists and is readable"};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{path.string(), "not a regular file", "point to a .safetensors file"};
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<std::size_t>(st.st_size);
  if (map->size < 8) {
    ::close(fd);
    return corrupt(path, "file is " + std::to_string(map->size) + " bytes, shorter than the 8-byte header length");
  }
  void* addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED)
    return Error{path.string(), std::string("mmap failed: ") + std::strerror(errno), "check free memory and the file"};
  map->data = static_cast<const std::uint8_t*>(addr);

  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | map->data[i];  // little-endian
  if (header_len > map->size - 8)
    return corrupt(path, "header length " + std::to_string(header_len) + " exceeds the file's remaining " +
                             std::to_string(map->size - 8) + " bytes (truncated or not safetensors)");
  if (header_len > kMaxHeaderBytes)
    return corrupt(path, "header length " + std::to_string(header_len) + " exceeds the " +
                             std::to_string(kMaxHeaderBytes) + "-byte limit");
  if (header_len < 2) return corrupt(path, "header length " + std::to_string(header_len) + " is too small for JSON");

  // Parse, rejecting duplicate top-level keys (nlohmann keeps the last one silently).
  const char* text = reinterpret_cast<const char*>(map->data + 8);
  std::set<std::string> seen;
  std::string duplicate;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(
        text, text + header_len,
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (depth == 1 && event == nlohmann::json::parse_event_t::key) {
            const auto key = parsed.get<std::string>();
            if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
          }
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    return corrupt(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) return corrupt(path, "header is not a JSON object");
  if (!duplicate.empty()) return corrupt_tensor(path, duplicate, "appears twice in the header");

  SafetensorsFile f;
  f.path_ = path;
  f.data_offset_ = 8 + header_len;
  const std::uint64_t data_size = map->size - f.data_offset_;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return corrupt(path, "__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) return corrupt(path, "__metadata__['" + mk + "'] is not a string");
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    auto entry = parse_entry(path, key, value);
    if (!entry) return entry.error();
    if (entry->end > data_size)
      return corrupt_tensor(path, key,
                            "data_offsets [" + std::to_string(entry->begin) + ", " + std::to_string(entry->end) +
                                "] run past the data section's " + std::to_string(data_size) +
                                " bytes (file truncated?)");
    f.entries_.push_back(std::move(*entry));
  }
  // No two tensors may share bytes: sort by begin and compare neighbours (empty tensors own none).
  std::vector<const TensorEntry*> by_begin;
  for (const auto& e : f.entries_)
    if (e.end > e.begin) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_begin.size(); ++i) {
    if (by_begin[i]->begin < by_begin[i - 1]->end)
      return corrupt_tensor(path, by_begin[i]->name,
                            "bytes [" + std::to_string(by_begin[i]->begin) + ", " + std::to_string(by_begin[i]->end) +
                                ") overlap tensor '" + by_begin[i - 1]->name + "' [" +
                                std::to_string(by_begin[i - 1]->begin) + ", " + std::to_string(by_begin[i - 1]->end) + ")");
  }
  f.map_ = std::move(map);
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

Result<at::Tensor> SafetensorsFile::load(const std::string& name) const {
  const TensorEntry* e = find(name);
  if (e == nullptr)
    return Error{tensor_thing(path_, name), "no such tensor in the file",
                 "check the checkpoint matches the model architecture (" + std::to_string(entries_.size()) +
                     " tensors present)"};
  const auto info = safetensors_dtype(e->dtype);  // validated in open()
  at::Tensor t = at::empty(e->shape, at::TensorOptions().dtype(info->scalar));
  if (e->end > e->begin) std::memcpy(t.data_ptr(), map_->data + data_offset_ + e->begin, e->end - e->begin);
  return t;
}

Result<void> write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<at::Tensor> cpu;
  cpu.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      return Error{tensor_thing(path, name), "tensor name used twice (or reserved)", "give every tensor a unique name"};
    if (!tensor.defined())
      return Error{tensor_thing(path, name), "tensor is undefined", "pass a real tensor"};
    const auto dtype = safetensors_dtype_name(tensor.scalar_type());
    if (!dtype)
      return Error{tensor_thing(path, name), std::string("dtype ") + c10::toString(tensor.scalar_type()) +
                                                 " has no safetensors name",
                   "cast it to a supported dtype before saving"};
    at::Tensor c = tensor.detach().to(at::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(c.numel()) * c.element_size();
    nlohmann::ordered_json entry;
    entry["dtype"] = *dtype;
    entry["shape"] = c.sizes().vec();
    entry["data_offsets"] = {offset, offset + bytes};
    header[name] = entry;
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // pad to 8 bytes as the reference writer does
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return Error{path.string(), "cannot create temporary file " + tmp.string(), "check the folder exists and is writable"};
    std::uint8_t len[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));  // little-endian
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : cpu)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(tmp);
      return Error{path.string(), "write failed (disk full?)", "free disk space and retry"};
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    return Error{path.string(), "cannot rename temporary file into place: " + ec.message(), "check permissions"};
  }
  return {};
}

}  // namespace qrun
