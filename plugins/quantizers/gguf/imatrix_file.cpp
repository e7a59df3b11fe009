// llama.cpp's importance-matrix files, GGUF and legacy .dat (imatrix.hpp). The .dat reader is
// written for hostile input: every length is checked against the bytes left before anything is
// allocated, and each malformed file is one Error naming the file and the entry.
#include "imatrix.hpp"

#include "gguf_file.hpp"
#include "llama_types.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <span>

namespace qrun::gguf {

namespace {

constexpr const char* kDatasets = "imatrix.datasets";
constexpr const char* kChunkCount = "imatrix.chunk_count";
constexpr const char* kChunkSize = "imatrix.chunk_size";

bool remove_suffix(std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

Error bad_file(const std::filesystem::path& p, const std::string& where, const std::string& reason) {
  return Error::of(ErrorCode::corrupt_input, p.string() + (where.empty() ? "" : " " + where), reason,
                   "write the file again with llama-imatrix or qrun imatrix");
}

std::vector<float> f32_values(std::span<const std::uint8_t> bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

Result<void> check_entry(const std::string& name, const ImatrixEntry& e) {
  if (e.ncols < 1 || e.nmat < 1 || e.in_sum2.size() != static_cast<std::size_t>(e.ncols * e.nmat) ||
      e.counts.size() != static_cast<std::size_t>(e.nmat))
    return Error::of(ErrorCode::internal, "imatrix entry " + name, "has inconsistent sizes", "");
  return {};
}

// Bounded little-endian reads over the whole .dat file.
struct Reader {
  const std::string& bytes;
  std::size_t pos = 0;
  std::size_t left() const { return bytes.size() - pos; }
  std::optional<std::int32_t> i32() {
    if (left() < 4) return std::nullopt;
    std::int32_t v;
    std::memcpy(&v, bytes.data() + pos, 4);
    pos += 4;
    return v;
  }
};

}  // namespace

std::vector<float> ImatrixEntry::mean() const {
  std::vector<float> out(in_sum2.size(), 1.0f);
  for (std::int64_t m = 0; m < nmat; ++m) {
    const float c = counts[static_cast<std::size_t>(m)];
    if (!(c > 0.0f)) continue;  // partial data: llama-quantize uses 1
    for (std::int64_t j = 0; j < ncols; ++j) {
      const auto i = static_cast<std::size_t>(m * ncols + j);
      out[i] = in_sum2[i] / c;
    }
  }
  return out;
}

const char* imatrix_format_name(ImatrixFormat f) {
  switch (f) {
    case ImatrixFormat::gguf: return "gguf";
    case ImatrixFormat::dat: return "dat";
    case ImatrixFormat::safetensors: return "safetensors";
  }
  return "?";
}

Result<ImatrixFormat> imatrix_format_for_output(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".gguf") return ImatrixFormat::gguf;
  if (ext == ".dat") return ImatrixFormat::dat;
  if (ext == ".safetensors") return ImatrixFormat::safetensors;
  return Error{path.string(), "has no imatrix file extension", "name it .gguf (llama-imatrix's format), .dat (legacy) or .safetensors"};
}

Result<ImatrixFormat> sniff_imatrix_format(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::of(ErrorCode::not_found, path.string(), "cannot be read", "give an existing imatrix file");
  char head[9] = {};
  in.read(head, 9);
  const auto n = in.gcount();
  if (n >= 4 && std::memcmp(head, "GGUF", 4) == 0) return ImatrixFormat::gguf;
  if (n == 9 && head[8] == '{') return ImatrixFormat::safetensors;  // u64 header length, then JSON
  return ImatrixFormat::dat;
}

Result<Imatrix> read_imatrix_gguf(const std::filesystem::path& path) {
  QRUN_ASSIGN_OR_RETURN(GgufFile f, GgufFile::open(path));
  Imatrix im;
  if (const Value* v = f.find(kDatasets)) {
    if (auto s = v->as_array<std::string>()) im.datasets = *s;
  }
  if (const Value* v = f.find(kChunkCount); v && v->as<std::uint32_t>()) im.chunk_count = *v->as<std::uint32_t>();
  if (const Value* v = f.find(kChunkSize); v && v->as<std::uint32_t>()) im.chunk_size = *v->as<std::uint32_t>();
  std::map<std::string, std::pair<const TensorInfo*, const TensorInfo*>> parts;  // name -> {in_sum2, counts}
  for (const TensorInfo& t : f.tensors()) {
    std::string name = t.name;
    if (remove_suffix(name, ".in_sum2")) parts[name].first = &t;
    else if (remove_suffix(name, ".counts")) parts[name].second = &t;
    // ".in_sum" (sums of x, newer llama-imatrix) and other tensors: not used by llama-quantize
  }
  if (parts.empty()) return bad_file(path, "", "holds no <name>.in_sum2 / <name>.counts tensors (not an imatrix GGUF)");
  for (const auto& [name, p] : parts) {
    const auto [sums, counts] = p;
    if (!sums || !counts) return bad_file(path, "entry " + name, "has " + std::string(sums ? "in_sum2 but no counts" : "counts but no in_sum2"));
    if (sums->type != GgmlType::f32 || counts->type != GgmlType::f32)
      return bad_file(path, "entry " + name, "in_sum2 and counts must be f32");
    ImatrixEntry e;
    e.ncols = sums->ne[0];
    e.nmat = sums->n_elements() / std::max<std::int64_t>(1, e.ncols);
    if (e.ncols < 1 || counts->n_elements() != e.nmat)
      return bad_file(path, "entry " + name, "has " + std::to_string(counts->n_elements()) + " counts for " +
                                                  std::to_string(e.nmat) + " matrices of " + std::to_string(e.ncols) + " columns");
    e.in_sum2 = f32_values(f.data(*sums));
    e.counts = f32_values(f.data(*counts));
    im.entries[name] = std::move(e);
  }
  return im;
}

Result<void> write_imatrix_gguf(const std::filesystem::path& path, const Imatrix& im) {
  std::vector<KeyValue> kv = {{"general.type", Value::of("imatrix")},
                              {kDatasets, Value::array_of(im.datasets)},
                              {kChunkCount, Value::of(static_cast<std::uint32_t>(im.chunk_count))},
                              {kChunkSize, Value::of(static_cast<std::uint32_t>(im.chunk_size))}};
  std::vector<TensorData> tensors;
  for (const auto& [name, e] : im.entries) {  // std::map: names sorted as strings, as llama-imatrix sorts them
    QRUN_TRY(check_entry(name, e));
    if (name.size() + 8 > kMaxTensorName)
      return Error{"imatrix entry " + name, "is too long for a GGUF tensor name (" + std::to_string(kMaxTensorName) + " bytes)",
                   "write llama.cpp's tensor names (blk.N.attn_q.weight ...) or use .safetensors"};
    const std::vector<std::int64_t> sums_ne = e.nmat > 1 ? std::vector<std::int64_t>{e.ncols, e.nmat} : std::vector<std::int64_t>{e.ncols};
    const std::vector<std::int64_t> counts_ne = e.nmat > 1 ? std::vector<std::int64_t>{1, e.nmat} : std::vector<std::int64_t>{1};
    tensors.push_back({name + ".in_sum2", sums_ne, GgmlType::f32,
                       {reinterpret_cast<const std::uint8_t*>(e.in_sum2.data()), e.in_sum2.size() * 4}});
    tensors.push_back({name + ".counts", counts_ne, GgmlType::f32,
                       {reinterpret_cast<const std::uint8_t*>(e.counts.data()), e.counts.size() * 4}});
  }
  return write_gguf(path, kv, tensors);
}

Result<Imatrix> read_imatrix_dat(const std::filesystem::path& path, std::int64_t chunk_size) {
  if (chunk_size < 1) return Error{"imatrix chunk size", "must be >= 1", "pass the n_ctx the .dat file was computed with"};
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::of(ErrorCode::not_found, path.string(), "cannot be read", "give an existing imatrix file");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Reader r{bytes};
  const auto n_entries = r.i32();
  if (!n_entries || *n_entries < 1) return bad_file(path, "", "has no entries (not a llama.cpp imatrix .dat file)");
  Imatrix im;
  im.chunk_size = chunk_size;
  const auto cs = static_cast<float>(chunk_size);
  for (std::int32_t i = 0; i < *n_entries; ++i) {
    const std::string where = "entry " + std::to_string(i + 1);
    const auto len = r.i32();
    if (!len || *len < 1 || static_cast<std::size_t>(*len) > r.left()) return bad_file(path, where, "has a bad name length");
    const std::string name = bytes.substr(r.pos, static_cast<std::size_t>(*len));
    r.pos += static_cast<std::size_t>(*len);
    const auto ncall = r.i32();
    const auto nval = r.i32();
    if (!ncall || !nval || *nval < 1 || *ncall < 0) return bad_file(path, where + " (" + name + ")", "has a bad call or value count");
    if (static_cast<std::size_t>(*nval) > r.left() / 4) return bad_file(path, where + " (" + name + ")", "is truncated");
    if (im.entries.count(name)) return bad_file(path, where + " (" + name + ")", "repeats a name");
    ImatrixEntry e;
    e.ncols = *nval;  // the legacy format keeps no matrix count: one row of every value
    e.in_sum2 = f32_values({reinterpret_cast<const std::uint8_t*>(bytes.data() + r.pos), static_cast<std::size_t>(*nval) * 4});
    r.pos += static_cast<std::size_t>(*nval) * 4;
    // llama-imatrix's load_imatrix_legacy: sums = value * chunk_size, count = ncall * chunk_size;
    // ncall 0 means llama-quantize uses the values as they are (count 1 keeps that mean).
    if (*ncall > 0) {
      for (float& v : e.in_sum2) v *= cs;
      e.counts = {static_cast<float>(*ncall) * cs};
    } else {
      e.counts = {1.0f};
    }
    im.entries[name] = std::move(e);
  }
  // Trailer (newer files): int32 chunk count, int32 length + dataset name.
  if (const auto last = r.i32()) {
    im.chunk_count = *last;
    const auto len = r.i32();
    if (len && *len >= 0 && static_cast<std::size_t>(*len) <= r.left()) im.datasets = {bytes.substr(r.pos, static_cast<std::size_t>(*len))};
  }
  return im;
}

Result<void> write_imatrix_dat(const std::filesystem::path& path, const Imatrix& im) {
  if (im.chunk_size < 1) return Error{"imatrix chunk size", "must be >= 1 for a .dat file", "compute the imatrix with a seq_len"};
  std::string out;
  auto put = [&out](std::int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  std::vector<const std::pair<const std::string, ImatrixEntry>*> kept;
  for (const auto& kv : im.entries) {
    QRUN_TRY(check_entry(kv.first, kv.second));
    if (std::any_of(kv.second.counts.begin(), kv.second.counts.end(), [](float c) { return c != 0.0f; })) kept.push_back(&kv);
  }
  put(static_cast<std::int32_t>(kept.size()));
  const auto cs = static_cast<std::int64_t>(im.chunk_size);
  for (const auto* kv : kept) {
    const auto& [name, e] = *kv;
    put(static_cast<std::int32_t>(name.size()));
    out += name;
    // save_imatrix_legacy: ncall = ceil(max count / chunk_size); value = (sum / count) * ncall,
    // with sum = 1, count = 1 for a matrix without data.
    const auto max_count = static_cast<std::int64_t>(std::llround(*std::max_element(e.counts.begin(), e.counts.end())));
    const auto ncall = static_cast<std::int32_t>((max_count + cs - 1) / cs);
    put(ncall);
    put(static_cast<std::int32_t>(e.in_sum2.size()));
    for (std::size_t i = 0; i < e.in_sum2.size(); ++i) {
      float count = e.counts[i / static_cast<std::size_t>(e.ncols)], value = e.in_sum2[i];
      if (count == 0.0f) value = 1.0f, count = 1.0f;
      const float v = (value / count) * static_cast<float>(ncall);
      out.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  put(static_cast<std::int32_t>(im.chunk_count));
  const std::string dataset = im.datasets.empty() ? std::string() : im.datasets.back();
  put(static_cast<std::int32_t>(dataset.size()));
  out += dataset;
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!f) return Error::of(ErrorCode::io, tmp.string(), "cannot be written", "check the output folder and free space");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error::of(ErrorCode::io, path.string(), "cannot be created: " + ec.message(), "check the output path");
  return {};
}

std::string hf_layer_name(const std::string& llama_name) {
  static const std::vector<std::pair<std::string, std::string>> projections = {
      {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},     {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"attn_qkv", "self_attn.qkv_proj"}, {"ffn_gate", "mlp.gate_proj"},
      {"ffn_up", "mlp.up_proj"},        {"ffn_down", "mlp.down_proj"}};
  if (llama_name == "output.weight") return "lm_head";
  static const std::regex blk(R"(^blk\.(\d+)\.([a-z_]+)\.weight$)");
  std::smatch m;
  if (std::regex_match(llama_name, m, blk))
    for (const auto& [llama, hf] : projections)
      if (m[2] == llama) return "model.layers." + m[1].str() + "." + hf;
  return llama_name;
}

const ImatrixEntry* find_imatrix_entry(const Imatrix& im, const std::string& layer) {
  for (const std::string& name : {layer, layer + ".weight", llama_tensor_name(layer)}) {
    auto it = im.entries.find(name);
    if (it != im.entries.end()) return &it->second;
  }
  return nullptr;
}

}  // namespace qrun::gguf
