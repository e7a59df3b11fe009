// llama-imatrix's accumulation through qrun's calibration hooks, and the imatrix files in all three
// formats (imatrix_compute.hpp).
#include "imatrix_compute.hpp"

#include "llama_types.hpp"

#include <qrun/calibration.hpp>
#include <qrun/safetensors.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>

namespace qrun::gguf {

namespace {

struct Windows {
  at::Tensor ids;  // [chunks, chunk_size] int64
  nlohmann::json record;
};

// Does the tokenizer put BOS in front of a text (llama_vocab_get_add_bos)?
std::optional<std::int64_t> added_bos(const Tokenizer& tok) {
  const auto bos = tok.bos_id();
  if (!bos) return std::nullopt;
  const auto ids = tok.encode("a", /*add_special_tokens=*/true);
  if (ids.empty() || ids.front() != *bos) return std::nullopt;
  return bos;
}

// llama-imatrix's chunks: texts in file order, one stream, consecutive chunks, BOS first.
Result<Windows> llama_chunks(const ImatrixSpec& spec, const Tokenizer& tok) {
  QRUN_ASSIGN_OR_RETURN(auto read, calibration::read_texts(spec.calibration));
  QRUN_ASSIGN_OR_RETURN(const std::string sha, sha256_file(spec.calibration));
  const auto& [texts, format] = read;
  std::vector<std::int64_t> stream;
  for (const auto& t : texts) {
    const auto ids = tok.encode(t, /*add_special_tokens=*/true);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const auto n = static_cast<std::int64_t>(stream.size());
  const std::int64_t max_chunks = n / spec.chunk_size;
  if (max_chunks < 1)
    return Error{spec.calibration.string(), "has " + std::to_string(n) + " tokens, fewer than one chunk of " +
                                                std::to_string(spec.chunk_size),
                 "lower seq_len (chunk size) or use a larger calibration file"};
  const std::int64_t chunks = spec.n_chunks > 0 ? std::min(spec.n_chunks, max_chunks) : max_chunks;
  at::Tensor ids = at::tensor(stream, at::TensorOptions().dtype(at::kLong)).slice(0, 0, chunks * spec.chunk_size)
                       .reshape({chunks, spec.chunk_size}).clone();
  const auto bos = added_bos(tok);
  if (bos) ids.select(1, 0).fill_(*bos);
  nlohmann::json rec = {{"path", spec.calibration.string()}, {"sha256", sha}, {"format", format},
                        {"texts", texts.size()}, {"stream_tokens", n}, {"n_samples", spec.n_chunks},
                        {"windows", chunks}, {"seq_len", spec.chunk_size}, {"tokens", chunks * spec.chunk_size},
                        {"seed", spec.seed}, {"sampling", "llama_imatrix_chunks"}, {"bos_first", bos.has_value()}};
  return Windows{ids, rec};
}

Result<Windows> windows_for(const ImatrixSpec& spec, const Tokenizer& tok) {
  if (spec.sampling == "chunks") return llama_chunks(spec, tok);
  if (spec.sampling != "random")
    return Error{"imatrix sampling", "\"" + spec.sampling + "\" is not a sampling", "use chunks (llama-imatrix) or random"};
  calibration::Spec cs{spec.calibration, spec.n_chunks > 0 ? spec.n_chunks : 128, spec.chunk_size, spec.seed,
                       calibration::Sampling::random_windows};
  QRUN_ASSIGN_OR_RETURN(calibration::Data d, calibration::load(cs, tok));
  return Windows{d.windows, d.record.to_json()};
}

std::vector<std::string> observed_layers(const Model& model, bool process_output) {
  std::vector<std::string> out;
  for (const auto& name : model.linear_names()) {
    const std::string llama = llama_tensor_name(name);
    if (llama.rfind("blk.", 0) == 0 || (process_output && llama == "output.weight")) out.push_back(name);
  }
  return out;
}

}  // namespace

Result<ImatrixResult> compute_imatrix(Model& model, const ImatrixSpec& spec, RunContext& ctx) {
  if (spec.chunk_size < 16)
    return Error{"imatrix seq_len", std::to_string(spec.chunk_size) + " tokens per chunk is below llama-imatrix's 16-row minimum "
                                    "(it collects nothing from smaller batches)", "use seq_len >= 16 (llama-imatrix's default is 512)"};
  const std::int64_t max_pos = model.config().max_position_embeddings;
  if (max_pos > 0 && spec.chunk_size > max_pos)
    return Error{"imatrix seq_len", std::to_string(spec.chunk_size) + " exceeds the model's max_position_embeddings " +
                                        std::to_string(max_pos), "use seq_len <= " + std::to_string(max_pos)};
  c10::InferenceMode guard;
  QRUN_ASSIGN_OR_RETURN(Windows w, windows_for(spec, model.tokenizer()));
  const auto layers = observed_layers(model, spec.process_output);
  if (layers.empty())
    return Error{"imatrix", "the model has no linear layer in a decoder block", "load a decoder model (Llama family names)"};
  struct Acc {
    at::Tensor sum2;  // float64 [in]
    std::int64_t rows = 0;
  };
  std::map<std::string, Acc> acc;
  std::vector<calibration::Observer> obs;
  for (const auto& name : layers) {
    acc[name].sum2 = at::zeros({model.linear(name).in_features()}, at::TensorOptions().dtype(at::kDouble));
    obs.push_back({name, [&acc, name](const at::Tensor& x, const at::Tensor&) {
                     Acc& a = acc[name];
                     const at::Tensor rows = x.reshape({-1, x.size(-1)}).to(at::kCPU).to(at::kDouble);
                     a.sum2.add_(rows.square().sum(0));
                     a.rows += rows.size(0);
                   }});
  }
  const std::int64_t bs = std::max<std::int64_t>(1, spec.batch_size), n = w.ids.size(0);
  auto progress = ctx.progress("imatrix", (n + bs - 1) / bs);
  for (std::int64_t b = 0; b < n; b += bs) {
    QRUN_TRY(calibration::run(model, w.ids.slice(0, b, std::min(b + bs, n)), obs, {bs, true}));
    progress->advance();
  }
  progress->finish();
  ImatrixResult r;
  r.imatrix.datasets = {spec.calibration.string()};
  r.imatrix.chunk_count = n;
  r.imatrix.chunk_size = spec.chunk_size;
  for (const auto& [name, a] : acc) {
    ImatrixEntry e;
    e.ncols = a.sum2.size(0);
    const at::Tensor f = a.sum2.to(at::kFloat).contiguous();
    e.in_sum2.assign(f.data_ptr<float>(), f.data_ptr<float>() + e.ncols);
    e.counts = {static_cast<float>(a.rows)};
    r.imatrix.entries[name] = std::move(e);
  }
  r.record = w.record;
  r.record["layers"] = layers.size();
  r.record["process_output"] = spec.process_output;
  return r;
}

Imatrix with_llama_names(const Imatrix& im) {
  Imatrix out = im;
  out.entries.clear();
  for (const auto& [name, e] : im.entries) out.entries[llama_tensor_name(name)] = e;
  return out;
}

Result<Imatrix> read_imatrix(const std::filesystem::path& path, std::int64_t dat_chunk_size) {
  QRUN_ASSIGN_OR_RETURN(const ImatrixFormat f, sniff_imatrix_format(path));
  if (f == ImatrixFormat::gguf) return read_imatrix_gguf(path);
  if (f == ImatrixFormat::dat) return read_imatrix_dat(path, dat_chunk_size);
  QRUN_ASSIGN_OR_RETURN(const SafetensorsFile file, SafetensorsFile::open(path));
  Imatrix im;
  const auto& meta = file.metadata();
  if (auto it = meta.find("imatrix.datasets"); it != meta.end()) im.datasets = {it->second};
  try {
    if (auto it = meta.find("imatrix.chunk_count"); it != meta.end()) im.chunk_count = std::stoll(it->second);
    if (auto it = meta.find("imatrix.chunk_size"); it != meta.end()) im.chunk_size = std::stoll(it->second);
  } catch (const std::exception&) {
    return Error::of(ErrorCode::corrupt_input, path.string(), "has a non-numeric imatrix.chunk_* metadata value", "write it again");
  }
  for (const TensorEntry& t : file.entries()) {
    QRUN_ASSIGN_OR_RETURN(at::Tensor v, file.load(t.name));
    if ((v.dim() != 1 && v.dim() != 2) || v.numel() == 0 || !v.is_floating_point())
      return Error{path.string() + " tensor " + t.name, "must be a float [in_features] vector (or [experts, in_features])",
                   "store one importance vector per weight"};
    v = v.to(at::kFloat).contiguous();
    ImatrixEntry e;
    e.ncols = v.size(-1);
    e.nmat = v.dim() == 2 ? v.size(0) : 1;
    e.in_sum2.assign(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    e.counts.assign(static_cast<std::size_t>(e.nmat), 1.0f);
    im.entries[t.name] = std::move(e);
  }
  return im;
}

Result<void> write_imatrix(const std::filesystem::path& path, const Imatrix& im) {
  QRUN_ASSIGN_OR_RETURN(const ImatrixFormat f, imatrix_format_for_output(path));
  if (f == ImatrixFormat::gguf) return write_imatrix_gguf(path, with_llama_names(im));
  if (f == ImatrixFormat::dat) return write_imatrix_dat(path, with_llama_names(im));
  NamedTensors tensors;
  for (const auto& [name, e] : im.entries) {
    std::vector<float> m = e.mean();
    at::Tensor t = at::tensor(m, at::TensorOptions().dtype(at::kFloat));
    tensors.emplace_back(name, e.nmat > 1 ? t.reshape({e.nmat, e.ncols}) : t);
  }
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"imatrix.chunk_count", std::to_string(im.chunk_count)},
                                             {"imatrix.chunk_size", std::to_string(im.chunk_size)}};
  if (!im.datasets.empty()) meta["imatrix.datasets"] = im.datasets.back();
  return write_safetensors(path, tensors, meta);
}

}  // namespace qrun::gguf
