// A small strict XML 1.0 well-formedness checker for the report's SVGs (no DTDs, no external
// entities; enough to catch unbalanced or misnamed tags, bad attributes, unescaped '&' and '<').
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace qrun::test {

struct XmlSummary {
  std::string root;                 // name of the root element
  std::vector<std::string> elements;  // every element name, in document order
};

// Returns the summary, or the first well-formedness error as "offset N: reason" in `error`.
std::optional<XmlSummary> check_xml(const std::string& text, std::string& error);

}  // namespace qrun::test
