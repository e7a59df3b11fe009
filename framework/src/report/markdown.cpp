#include "report/markdown.hpp"

#include "report/format.hpp"

#include <algorithm>

namespace qrun::report {

namespace {
constexpr std::size_t kMinDashes = 3;  // GFM needs at least three dashes per delimiter cell

std::string pad(const std::string& s, std::size_t width, Align a) {
  std::size_t w = display_width(s);
  if (w >= width) return s;
  std::string fill(width - w, ' ');
  return a == Align::right ? fill + s : s + fill;
}
}  // namespace

std::string render_table(const Table& table) {
  if (table.rows.empty()) return "_(no data)_\n";
  std::size_t cols = table.headers.size();
  for (const auto& r : table.rows) cols = std::max(cols, r.size());
  auto cell = [&](const std::vector<std::string>& r, std::size_t c) { return c < r.size() ? md_cell(r[c]) : ""; };
  auto align = [&](std::size_t c) { return c < table.align.size() ? table.align[c] : Align::left; };

  std::vector<std::size_t> width(cols, kMinDashes);
  for (std::size_t c = 0; c < cols; ++c) {
    width[c] = std::max(width[c], display_width(cell(table.headers, c)));
    for (const auto& r : table.rows) width[c] = std::max(width[c], display_width(cell(r, c)));
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s = "|";
    for (std::size_t c = 0; c < cols; ++c) s += " " + pad(cell(r, c), width[c], align(c)) + " |";
    return s + "\n";
  };
  std::string out = line(table.headers);
  out += "|";
  for (std::size_t c = 0; c < cols; ++c)
    out += align(c) == Align::right ? " " + std::string(width[c] - 1, '-') + ": |"
                                    : " " + std::string(width[c], '-') + " |";
  out += "\n";
  for (const auto& r : table.rows) out += line(r);
  return out;
}

}  // namespace qrun::report
