// Layer selection by include/exclude name patterns (see qrun/quant/layer_select.hpp).
#include <qrun/quant/layer_select.hpp>

namespace qrun::quant {

namespace {
// Glob match of `p` (with '*') against all of `s`, iterative with backtracking to the last '*'.
bool glob(const std::string& s, const std::string& p) {
  std::size_t i = 0, j = 0, star = std::string::npos, mark = 0;
  while (i < s.size()) {
    if (j < p.size() && p[j] == '*') {
      star = j++;
      mark = i;
    } else if (j < p.size() && p[j] == s[i]) {
      ++i;
      ++j;
    } else if (star != std::string::npos) {
      j = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (j < p.size() && p[j] == '*') ++j;
  return j == p.size();
}
}  // namespace

bool name_matches(const std::string& name, const std::string& pattern) { return glob(name, "*" + pattern + "*"); }

bool name_matches_any(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns)
    if (name_matches(name, p)) return true;
  return false;
}

Result<std::vector<std::string>> select_layers(const std::vector<std::string>& names,
                                               const std::vector<std::string>& include,
                                               const std::vector<std::string>& exclude, const std::string& thing) {
  std::vector<std::string> out;
  for (const auto& n : names)
    if ((include.empty() || name_matches_any(n, include)) && !name_matches_any(n, exclude)) out.push_back(n);
  if (out.empty())
    return Error{thing, "include/exclude patterns select none of the model's " + std::to_string(names.size()) +
                            " linear layers",
                 "check the patterns against the layer names (e.g. model.layers.0.mlp.up_proj)"};
  return out;
}

}  // namespace qrun::quant
