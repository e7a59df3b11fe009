// BPE as tokenizers implements it (tokenizers/src/models/bpe/{model,word}.rs): characters ->
// vocabulary ids (byte fallback / unk), then merges applied lowest rank first, leftmost first
// among equal ranks, through a priority queue with stale entries skipped (Word::merge_all).
#include "tokenizer/bpe.hpp"

#include "tokenizer/utf8.hpp"

#include <cstdio>
#include <queue>

namespace qrun::tok {
namespace {

constexpr std::size_t kCacheCapacity = 100000;  // entries; tokenizers uses 10,000
constexpr std::size_t kCacheMaxWordBytes = 256;  // longer words are not cached

struct Symbol {
  std::int32_t id;
  std::int32_t prev;
  std::int32_t next;
  std::size_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
};

struct QueuedMerge {
  std::int32_t pos, rank, new_id;
  // Lowest rank first, then leftmost position (tokenizers word.rs: Ord for Merge).
  bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

Result<BpeModel> BpeModel::from_json(const Json& model, const JsonWhere& where) {
  BpeModel m;
  auto type = string_member(model, where, "type");
  if (!type.ok()) return type.error();
  if (*type != "BPE") return unsupported(where.key("type"), *type, "BPE");

  auto dropout = optional_member(model, where, "dropout", Json::value_t::number_float);
  if (!dropout.ok()) return dropout.error();
  if (*dropout != nullptr && (*dropout)->get<double>() != 0.0) {
    return where.key("dropout").error("is set (BPE dropout makes encoding random)", "set model.dropout to null");
  }
  auto byte_fallback = bool_member(model, where, "byte_fallback", false);
  auto fuse_unk = bool_member(model, where, "fuse_unk", false);
  auto ignore_merges = bool_member(model, where, "ignore_merges", false);
  if (!byte_fallback.ok()) return byte_fallback.error();
  if (!fuse_unk.ok()) return fuse_unk.error();
  if (!ignore_merges.ok()) return ignore_merges.error();
  m.byte_fallback_ = *byte_fallback;
  m.fuse_unk_ = *fuse_unk;
  m.ignore_merges_ = *ignore_merges;
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto s = optional_member(model, where, key, Json::value_t::string);
    if (!s.ok()) return s.error();
    if (*s != nullptr) {
      (std::string(key) == "end_of_word_suffix" ? m.end_of_word_suffix_ : m.continuing_subword_prefix_) =
          (*s)->get<std::string>();
    }
  }

  auto vocab = member(model, where, "vocab", Json::value_t::object);
  if (!vocab.ok()) return vocab.error();
  m.vocab_.reserve((*vocab)->size());
  // Ids index a dense table (id -> token): every published vocabulary numbers its entries 0..n-1.
  // An id far beyond the entry count would make that table absurdly large (2147483647: 2^31
  // entries; found by issue 18's review: bad_alloc, or 3.3 GB for 1e8), so ids must stay below
  // 2 x entries + 256 (issue 18).
  const std::int64_t id_bound = 2 * static_cast<std::int64_t>((*vocab)->size()) + 256;
  for (const auto& [token, id] : (*vocab)->items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX) {
      return where.key("vocab").key(token).error("is not a non-negative 32-bit id",
                                                 "restore the file from the original download");
    }
    if (id.get<std::int64_t>() >= id_bound) {
      return where.key("vocab").key(token).error(
          "id " + std::to_string(id.get<std::int64_t>()) + " is far beyond the vocabulary's " +
              std::to_string((*vocab)->size()) + " entries (ids must be below " + std::to_string(id_bound) + ")",
          "restore the file from the original download");
    }
    const auto i = id.get<std::int32_t>();
    m.vocab_[token] = i;
    if (static_cast<std::size_t>(i) >= m.id_to_token_.size()) {
      m.id_to_token_.resize(i + 1);
      m.id_known_.resize(i + 1, false);
    }
    m.id_to_token_[i] = token;
    m.id_known_[i] = true;
  }

  auto merges = member(model, where, "merges", Json::value_t::array);
  if (!merges.ok()) return merges.error();
  m.merges_.reserve((*merges)->size());
  const std::size_t prefix_len = m.continuing_subword_prefix_.size();
  for (std::size_t rank = 0; rank < (*merges)->size(); ++rank) {
    const Json& entry = (**merges)[rank];
    const JsonWhere ew = where.key("merges").index(rank);
    std::string a, b;
    if (entry.is_string()) {  // "a b"
      const auto s = entry.get<std::string>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return ew.error("\"" + s + "\" is not two tokens separated by one space",
                        "restore the file from the original download");
      }
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      return ew.error("is neither \"a b\" nor [\"a\", \"b\"]", "restore the file from the original download");
    }
    const auto ia = m.vocab_.find(a), ib = m.vocab_.find(b);
    if (ia == m.vocab_.end() || ib == m.vocab_.end()) {
      return ew.error("uses \"" + (ia == m.vocab_.end() ? a : b) + "\", which is not in model.vocab",
                      "restore the file from the original download");
    }
    // The merged token drops b's continuing-subword prefix (tokenizers bpe/model.rs).
    const std::string merged = a + (prefix_len > 0 && b.compare(0, prefix_len, m.continuing_subword_prefix_) == 0
                                        ? b.substr(prefix_len)
                                        : b);
    const auto im = m.vocab_.find(merged);
    if (im == m.vocab_.end()) {
      return ew.error("makes \"" + merged + "\", which is not in model.vocab",
                      "restore the file from the original download");
    }
    m.merges_[pair_key(ia->second, ib->second)] = {static_cast<std::int32_t>(rank), im->second};
  }

  auto unk = optional_member(model, where, "unk_token", Json::value_t::string);
  if (!unk.ok()) return unk.error();
  if (*unk != nullptr) {
    const auto it = m.vocab_.find((*unk)->get<std::string>());
    if (it == m.vocab_.end()) {
      return where.key("unk_token").error("is not in model.vocab", "restore the file from the original download");
    }
    m.unk_id_ = it->second;
  }
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    const auto it = m.vocab_.find(name);
    m.byte_ids_[byte] = it == m.vocab_.end() ? -1 : it->second;
  }
  return m;
}

std::optional<std::int64_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(std::int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size() || !id_known_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<std::int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto it = vocab_.find(std::string(word)); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (const auto it = cache_->map.find(key); it != cache_->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int64_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->map.size() >= kCacheCapacity) cache_->map.clear();
    cache_->map.emplace(std::move(key), std::move(ids));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<std::int64_t>& out) const {
  // 1. One symbol per character (tokenizers BPE::merge_word).
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&symbols](std::int32_t id, std::size_t len) {
    const auto n = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1, len});
  };
  std::optional<std::pair<std::int32_t, std::size_t>> pending_unk;
  std::string piece;
  std::size_t i = 0;
  while (i < word.size()) {
    const std::size_t start = i;
    next_code_point(word, i);
    const std::size_t byte_len = i - start;
    piece.assign(word.substr(start, byte_len));
    if (start > 0 && !continuing_subword_prefix_.empty()) piece = continuing_subword_prefix_ + piece;
    if (i == word.size() && !end_of_word_suffix_.empty()) piece += end_of_word_suffix_;
    if (const auto it = vocab_.find(piece); it != vocab_.end()) {
      if (pending_unk) {
        add(pending_unk->first, pending_unk->second);
        pending_unk.reset();
      }
      add(it->second, byte_len);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : piece) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : piece) add(byte_ids_[c], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && fuse_unk_) {
        pending_unk->second += byte_len;
      } else {
        if (pending_unk) add(pending_unk->first, pending_unk->second);
        pending_unk = std::make_pair(*unk_id_, byte_len);
      }
    }
  }
  if (pending_unk) add(pending_unk->first, pending_unk->second);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // 2. Merges, lowest rank first (tokenizers Word::merge_all).
  std::priority_queue<QueuedMerge> queue;
  auto lookup = [this](std::int32_t a, std::int32_t b) -> const MergeTarget* {
    const auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
    if (const MergeTarget* m = lookup(symbols[k].id, symbols[k + 1].id)) {
      queue.push({static_cast<std::int32_t>(k), m->rank, m->new_id});
    }
  }
  const auto n = static_cast<std::int32_t>(symbols.size());
  while (!queue.empty()) {
    const QueuedMerge top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.len == 0 || left.next == -1) continue;
    const Symbol right = symbols[left.next];
    const MergeTarget* current = lookup(left.id, right.id);
    if (current == nullptr || current->new_id != top.new_id) continue;  // stale entry
    const std::int32_t right_pos = left.next;
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    symbols[right_pos].len = 0;
    if (right.next > -1 && right.next < n) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const MergeTarget* m = lookup(symbols[left.prev].id, left.id)) queue.push({left.prev, m->rank, m->new_id});
    }
    if (left.next > -1 && left.next < n) {
      if (const MergeTarget* m = lookup(left.id, symbols[left.next].id)) queue.push({top.pos, m->rank, m->new_id});
    }
  }
  for (const Symbol& s : symbols) {
    if (s.len != 0) out.push_back(s.id);
  }
}

}  // namespace qrun::tok
