// safetensors reader (hostile input) and atomic writer.
// Format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, N bytes
// of UTF-8 JSON {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets"}}, then
// the data section; data_offsets are [begin, end) relative to the data section. The header rules
// (hostile input) live in safetensors_header.cpp, which needs no torch.
#include <qrun/safetensors.hpp>

#include "safetensors/safetensors_dtypes.hpp"
#include "safetensors/safetensors_header.hpp"

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
  return path.string() + " tensor '" + clip_for_error(name) + "'";
}

// FP8 bytes held in uint8 tensors (libtorch 1.13 has no float8 type) are named FP8 in the header
// when the layer that stores them says so: a metadata entry "qrun.linear.<layer>" (the record of a
// quantized layer, qrun/linear_kind.hpp) whose {"metadata": {"safetensors_dtypes": {suffix: name}}}
// names "F8_E4M3" or "F8_E5M2" for the uint8 tensor "<layer>.<suffix>". Other tools (transformers,
// vLLM, compressed-tensors) then read those tensors as torch.float8_e4m3fn / float8_e5m2.
std::map<std::string, std::string> fp8_header_names(const std::map<std::string, std::string>& metadata) {
  static const std::string prefix = "qrun.linear.";
  std::map<std::string, std::string> out;
  for (auto it = metadata.lower_bound(prefix); it != metadata.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    if (it->second.find("safetensors_dtypes") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("metadata") || !j["metadata"].is_object()) continue;
    const auto d = j["metadata"].find("safetensors_dtypes");
    if (d == j["metadata"].end() || !d->is_object()) continue;
    for (const auto& [suffix, name] : d->items())
      if (name.is_string() && is_fp8_dtype_name(name.get<std::string>()))
        out[it->first.substr(prefix.size()) + "." + suffix] = name.get<std::string>();
  }
  return out;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error{path.string(), std::string("cannot open: ") + std::strerror(errno),
                 "check that the file exists and is readable", errno == ENOENT ? ErrorCode::not_found : ErrorCode::io};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{path.string(), "not a regular file", "point to a .safetensors file"};
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<std::size_t>(st.st_size);
  if (map->size < 8) {
    ::close(fd);
    return parse_safetensors_header(path.string(), nullptr, map->size).error();
  }
  void* addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED)
    return Error{path.string(), std::string("mmap failed: ") + std::strerror(errno), "check free memory and the file",
                 ErrorCode::io};
  map->data = static_cast<const std::uint8_t*>(addr);

  auto header = parse_safetensors_header(path.string(), map->data, map->size);
  if (!header) return header.error();
  SafetensorsFile f;
  f.path_ = path;
  f.data_offset_ = header->data_offset;
  f.metadata_ = std::move(header->metadata);
  f.entries_.reserve(header->entries.size());
  for (auto& e : header->entries)  // sorted by name: find() relies on it
    f.entries_.push_back(TensorEntry{std::move(e.name), std::move(e.dtype), std::move(e.shape), e.begin, e.end});
  f.map_ = std::move(map);
  return f;
}

// Binary search (entries_ are sorted by name in open()); a linear scan here made every caller that
// loads each tensor by name quadratic (issue 18: 50,000 tensors took 37 s).
const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const TensorEntry& e, const std::string& n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

Result<at::Tensor> SafetensorsFile::load(const std::string& name) const {
  const TensorEntry* e = find(name);
  if (e == nullptr)
    return Error{tensor_thing(path_, name), "no such tensor in the file",
                 "check the checkpoint matches the model architecture (" + std::to_string(entries_.size()) +
                     " tensors present)",
                 ErrorCode::not_found};
  const auto info = safetensors_dtype(e->dtype);  // validated in open()
  at::Tensor t = at::empty(e->shape, at::TensorOptions().dtype(info->scalar));
  if (e->end > e->begin) std::memcpy(t.data_ptr(), map_->data + data_offset_ + e->begin, e->end - e->begin);
  return t;
}

Result<void> write_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata) {
  // The header text is assembled piece by piece: ordered_json's contains()/operator[] scan linearly,
  // which made writing n tensors quadratic. The bytes are the same as ordered_json::dump().
  std::string text = "{";
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    text += "\"__metadata__\":" + meta.dump();
  }
  const std::map<std::string, std::string> fp8_names = fp8_header_names(metadata);
  std::set<std::string> names;
  std::vector<at::Tensor> cpu;
  cpu.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !names.insert(name).second)
      return Error{tensor_thing(path, name), "tensor name used twice (or reserved)", "give every tensor a unique name"};
    if (!tensor.defined())
      return Error{tensor_thing(path, name), "tensor is undefined", "pass a real tensor"};
    auto dtype = safetensors_dtype_name(tensor.scalar_type());
    if (auto f = fp8_names.find(name); f != fp8_names.end() && tensor.scalar_type() == at::kByte) dtype = f->second;
    if (!dtype)
      return Error{tensor_thing(path, name), std::string("dtype ") + c10::toString(tensor.scalar_type()) +
                                                 " has no safetensors name",
                   "cast it to a supported dtype before saving", ErrorCode::unsupported};
    at::Tensor c = tensor.detach().to(at::kCPU).contiguous();
    const auto bytes = static_cast<std::uint64_t>(c.numel()) * c.element_size();
    nlohmann::ordered_json entry;
    entry["dtype"] = *dtype;
    entry["shape"] = c.sizes().vec();
    entry["data_offsets"] = {offset, offset + bytes};
    text += (text.size() > 1 ? "," : "") + nlohmann::ordered_json(name).dump() + ":" + entry.dump();
    offset += bytes;
    cpu.push_back(std::move(c));
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');  // pad to 8 bytes as the reference writer does
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return Error{path.string(), "cannot create temporary file " + tmp.string(), "check the folder exists and is writable",
                   ErrorCode::io};
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
      return Error{path.string(), "write failed (disk full?)", "free disk space and retry", ErrorCode::io};
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    return Error{path.string(), "cannot rename temporary file into place: " + ec.message(), "check permissions",
                 ErrorCode::io};
  }
  return {};
}

}  // namespace qrun
