// Choosing layers by name for transforms: include/exclude pattern lists.
// A pattern matches a layer name when it occurs in it, with `*` standing for any run of characters
// ("mlp" matches every MLP projection; "layers.0.*proj" the projections of layer 0).
#pragma once

#include <qrun/error.hpp>

#include <string>
#include <vector>

namespace qrun::quant {

bool name_matches(const std::string& name, const std::string& pattern);
bool name_matches_any(const std::string& name, const std::vector<std::string>& patterns);

// The names (in their order) matched by `include` (empty: all) and not by `exclude`.
// An empty result is an error naming `thing` (e.g. "nf4.include").
Result<std::vector<std::string>> select_layers(const std::vector<std::string>& names,
                                               const std::vector<std::string>& include,
                                               const std::vector<std::string>& exclude, const std::string& thing);

}  // namespace qrun::quant
