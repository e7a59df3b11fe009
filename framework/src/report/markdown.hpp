// Markdown tables padded to aligned columns, so report.md reads well in a terminal as well as
// rendered (GitHub-flavoured pipe tables).
#pragma once

#include <string>
#include <vector>

namespace qrun::report {

enum class Align { left, right };

struct Table {
  std::vector<std::string> headers;
  std::vector<Align> align;  // per column; missing entries are left-aligned
  std::vector<std::vector<std::string>> rows;

  Table& row(std::vector<std::string> cells) {
    rows.push_back(std::move(cells));
    return *this;
  }
};

// Renders the table (cells escaped with md_cell, short rows padded with empty cells), ending in
// a newline. An empty table (no rows) renders as "_(no data)_\n".
std::string render_table(const Table& table);

}  // namespace qrun::report
