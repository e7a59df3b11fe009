#include "report/text_bars.hpp"

#include "report/format.hpp"

#include <algorithm>
#include <cmath>

namespace qrun::report {

namespace {
// U+258F..U+2589: left one-eighth block .. left seven-eighths block, then U+2588 full block.
const char* const kEighths[8] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
const char* const kFull = "█";
}  // namespace

std::string render_text_bars(const std::vector<TextBar>& bars, int width) {
  double max_abs = 0;
  std::size_t label_w = 0;
  for (const auto& b : bars) {
    if (std::isfinite(b.value)) max_abs = std::max(max_abs, std::fabs(b.value));
    label_w = std::max(label_w, display_width(b.label));
  }
  std::string out;
  for (const auto& b : bars) {
    std::string line = b.label + std::string(label_w - display_width(b.label), ' ') + " ";
    long eighths = 0;
    if (max_abs > 0 && std::isfinite(b.value))
      eighths = std::lround(std::fabs(b.value) / max_abs * width * 8);  // length in 1/8 cells
    std::string bar;
    for (long i = 0; i < eighths / 8; ++i) bar += kFull;
    bar += kEighths[eighths % 8];
    long cells = eighths / 8 + (eighths % 8 ? 1 : 0);
    line += bar + std::string(static_cast<std::size_t>(width - cells), ' ') + " " + b.value_text;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace qrun::report
