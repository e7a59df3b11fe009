// A small RFC 4180 CSV reader (comma separated; fields in double quotes may hold commas, line
// breaks and "" for a quote; LF or CRLF line ends), for the behavioural datasets' CSV files
// (AdvBench harmful_behaviors.csv, XSTest prompts, MMLU's per-subject files).
#pragma once

#include <qrun/error.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace qrun::behaviour {

using CsvRows = std::vector<std::vector<std::string>>;

// Every record of `text` in order (a UTF-8 BOM is skipped; a final line end is optional; blank
// lines are skipped). Error (corrupt_input) on an unterminated quote or a quote inside an
// unquoted field; `thing` names the file.
Result<CsvRows> parse_csv(std::string_view text, const std::string& thing);

// The index of `name` in a header row, or -1.
int csv_column(const std::vector<std::string>& header, std::string_view name);

}  // namespace qrun::behaviour
