// nearest_name (qrun/params.hpp): the "did you mean" hint for unknown keys, plugins and commands.
#include <qrun/params.hpp>

#include <algorithm>
#include <cctype>
#include <limits>

namespace qrun {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), so that the
// common typos "sigam" -> "sigma" and "blocksize" -> "block_size" both cost 1.
std::size_t osa_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1, 0));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::optional<std::string> nearest_name(const std::string& name, const std::vector<std::string>& candidates) {
  if (name.empty()) return std::nullopt;
  const std::string key = lower(name);
  std::optional<std::string> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const std::string& candidate : candidates) {
    const std::string c = lower(candidate);
    std::size_t distance = osa_distance(key, c);
    // A plausible typo changes at most a third of the longer name (and at least one character
    // must survive); an abbreviation of 3+ characters ("perp" for "perplexity") also counts.
    const std::size_t longest = std::max(key.size(), c.size());
    const std::size_t allowed = std::max<std::size_t>(1, longest / 3);
    const bool typo = distance <= allowed && distance < std::min(key.size(), c.size());
    const bool abbreviation = key.size() >= 3 && c.size() > key.size() && c.compare(0, key.size(), key) == 0;
    if (!typo && !abbreviation) continue;
    if (!typo) distance = c.size() - key.size();  // rank abbreviations by what is missing
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

}  // namespace qrun
