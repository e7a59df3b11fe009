// Calibration data: reading the file, tokenizing, cutting windows (qrun/calibration.hpp), and
// CPython's Mersenne Twister so the windows are the ones the reference scripts draw.
#include <qrun/calibration.hpp>
#include <qrun/sha256.hpp>

#include <ATen/ATen.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace qrun::calibration {

std::string_view to_string(Sampling s) { return s == Sampling::random_windows ? "random_windows" : "blocks"; }

nlohmann::json Record::to_json() const {
  return {{"path", path},        {"sha256", sha256},     {"format", format},      {"texts", texts},
          {"stream_tokens", stream_tokens}, {"sampling", std::string(to_string(sampling))},
          {"seed", seed},        {"n_samples", n_samples}, {"windows", windows}, {"seq_len", seq_len},
          {"tokens", tokens}};
}

// --- CPython's random (Modules/_randommodule.c) ------------------------------------------------

namespace {
constexpr int kN = 624, kM = 397;
constexpr std::uint32_t kMatrixA = 0x9908b0dfU, kUpper = 0x80000000U, kLower = 0x7fffffffU;
}  // namespace

PyRandom::PyRandom(std::uint64_t seed) {
  // random_seed: the absolute value's 32-bit words, least significant first; 0 is one zero word.
  std::vector<std::uint32_t> key;
  for (std::uint64_t n = seed; n != 0; n >>= 32) key.push_back(static_cast<std::uint32_t>(n & 0xffffffffU));
  if (key.empty()) key.push_back(0);
  // init_genrand(19650218) then init_by_array(key).
  mt_[0] = 19650218U;
  for (int i = 1; i < kN; ++i) mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  int i = 1;
  std::size_t j = 0;
  for (std::size_t k = std::max<std::size_t>(kN, key.size()); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<std::uint32_t>(j);
    ++i, ++j;
    if (i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
    if (j >= key.size()) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941U)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
  }
  mt_[0] = 0x80000000U;
  index_ = kN;
}

std::uint32_t PyRandom::genrand_uint32() {
  if (index_ >= kN) {
    auto twist = [&](int a, int b, int c) {
      const std::uint32_t y = (mt_[a] & kUpper) | (mt_[b] & kLower);
      mt_[a] = mt_[c] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
    };
    int kk = 0;
    for (; kk < kN - kM; ++kk) twist(kk, kk + 1, kk + kM);
    for (; kk < kN - 1; ++kk) twist(kk, kk + 1, kk + (kM - kN));
    twist(kN - 1, 0, kM - 1);
    index_ = 0;
  }
  std::uint32_t y = mt_[index_++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= (y >> 18);
  return y;
}

std::uint64_t PyRandom::getrandbits(int k) {
  // Words from least to most significant; the last (partial) word keeps its top bits.
  std::uint64_t out = 0;
  for (int shift = 0; k > 0; shift += 32, k -= 32) {
    std::uint32_t r = genrand_uint32();
    if (k < 32) r >>= (32 - k);
    out |= static_cast<std::uint64_t>(r) << shift;
  }
  return out;
}

std::int64_t PyRandom::randbelow(std::int64_t n) {
  int k = 0;  // n.bit_length()
  for (std::uint64_t v = static_cast<std::uint64_t>(n); v != 0; v >>= 1) ++k;
  std::uint64_t r = getrandbits(k);
  while (r >= static_cast<std::uint64_t>(n)) r = getrandbits(k);
  return static_cast<std::int64_t>(r);
}

double PyRandom::random() {
  const std::uint32_t a = genrand_uint32() >> 5, b = genrand_uint32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

// --- Files -------------------------------------------------------------------------------------

Result<std::pair<std::vector<std::string>, std::string>> read_texts(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error::of(ErrorCode::not_found, path.string(), "cannot be read",
                     "give a calibration file (datasets/calibration.json, a JSON list of strings or a text file)");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string fix = "use the format of datasets/README.md (calibration.json), a JSON list of strings, or plain text";
  std::vector<std::string> texts;
  std::string format = "text";
  const bool json_name = path.extension() == ".json";
  nlohmann::json doc = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (json_name && doc.is_discarded())
    return Error::of(ErrorCode::corrupt_input, path.string(), "is not valid JSON", fix);
  if (!doc.is_discarded() && (doc.is_array() || doc.is_object())) {
    auto take = [&](const nlohmann::json& list, const char* field, const std::string& where) -> Result<void> {
      if (!list.is_array()) return Error::of(ErrorCode::corrupt_input, path.string() + " " + where, "is not a list", fix);
      for (std::size_t i = 0; i < list.size(); ++i) {
        const nlohmann::json& e = field ? (list[i].is_object() ? list[i].value(field, nlohmann::json()) : nlohmann::json())
                                        : list[i];
        if (!e.is_string())
          return Error::of(ErrorCode::corrupt_input, path.string() + " " + where + "[" + std::to_string(i) + "]",
                           field ? std::string("has no string \"") + field + "\"" : std::string("is not a string"), fix);
        texts.push_back(e.get<std::string>());
      }
      return {};
    };
    if (doc.is_array()) {
      format = "json_list";
      QRUN_TRY(take(doc, nullptr, "list"));
    } else {
      const std::string schema = doc.value("schema", "");
      if (schema == "qrun.calibration") {
        format = schema;
        QRUN_TRY(take(doc.value("texts", nlohmann::json()), "text", "texts"));
      } else if (schema == "qrun.prompt_suite") {
        format = schema;
        QRUN_TRY(take(doc.value("prompts", nlohmann::json()), "prompt", "prompts"));
      } else {
        return Error::of(ErrorCode::corrupt_input, path.string(),
                         "is a JSON object without schema \"qrun.calibration\" or \"qrun.prompt_suite\"", fix);
      }
    }
  } else {
    texts.push_back(bytes);
  }
  std::erase_if(texts, [](const std::string& t) { return t.empty(); });
  if (texts.empty()) return Error::of(ErrorCode::invalid_argument, path.string(), "holds no text", fix);
  return std::make_pair(std::move(texts), format);
}

Result<Data> load(const Spec& spec, const Tokenizer& tokenizer) {
  const std::string thing = spec.path.string();
  if (spec.n_samples < 1 || spec.seq_len < 1)
    return Error{thing, "n_samples and seq_len must be >= 1 (got " + std::to_string(spec.n_samples) + ", " +
                            std::to_string(spec.seq_len) + ")", "pass positive values"};
  QRUN_ASSIGN_OR_RETURN(auto read, read_texts(spec.path));
  QRUN_ASSIGN_OR_RETURN(std::string sha, sha256_file(spec.path));
  auto& [texts, format] = read;
  Record rec;
  rec.path = thing, rec.sha256 = sha, rec.format = format, rec.texts = static_cast<std::int64_t>(texts.size());
  rec.n_samples = spec.n_samples, rec.seq_len = spec.seq_len, rec.seed = spec.seed, rec.sampling = spec.sampling;

  PyRandom rng(spec.seed);
  std::vector<std::size_t> order(texts.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (spec.sampling == Sampling::blocks) rng.shuffle(order);
  std::vector<std::int64_t> stream;
  for (std::size_t i : order) {
    const std::vector<std::int64_t> ids = tokenizer.encode(texts[i], /*add_special_tokens=*/true);
    stream.insert(stream.end(), ids.begin(), ids.end());
  }
  const auto n = static_cast<std::int64_t>(stream.size());
  rec.stream_tokens = n;
  const std::int64_t need = spec.sampling == Sampling::random_windows ? spec.seq_len + 1 : spec.seq_len;
  if (n < need)
    return Error{thing, "has " + std::to_string(n) + " tokens, fewer than one window needs (" + std::to_string(need) + ")",
                 "lower seq_len or use a larger calibration file"};
  std::vector<std::int64_t> starts;
  if (spec.sampling == Sampling::random_windows) {
    // get_wikitext2: i = random.randint(0, len - seqlen - 1); inp = ids[i : i + seqlen]
    for (std::int64_t s = 0; s < spec.n_samples; ++s) starts.push_back(rng.randint(0, n - spec.seq_len - 1));
  } else {
    // get_calib_dataset: n_split = len // block_size blocks of block_size consecutive tokens
    for (std::int64_t b = 0; b < std::min(spec.n_samples, n / spec.seq_len); ++b) starts.push_back(b * spec.seq_len);
  }
  const at::Tensor all = at::tensor(stream, at::TensorOptions().dtype(at::kLong));
  std::vector<at::Tensor> rows;
  for (std::int64_t s : starts) rows.push_back(all.slice(0, s, s + spec.seq_len));
  rec.windows = static_cast<std::int64_t>(rows.size());
  rec.tokens = rec.windows * spec.seq_len;
  return Data{at::stack(rows).contiguous(), rec};
}

}  // namespace qrun::calibration
