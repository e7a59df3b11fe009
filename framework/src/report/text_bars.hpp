// Unicode block bars ("█████▍") for charts that read in a terminal and in a Markdown code block.
#pragma once

#include <string>
#include <vector>

namespace qrun::report {

struct TextBar {
  std::string label;
  double value = 0;          // bar length is |value| relative to the largest |value|
  std::string value_text;    // printed after the bar, e.g. "+3.10 %"
};

// One line per bar: label padded, bar of up to `width` cells (1/8-cell resolution), then the
// text. Non-finite values get no bar. Returns lines ending in '\n'.
std::string render_text_bars(const std::vector<TextBar>& bars, int width = 40);

}  // namespace qrun::report
