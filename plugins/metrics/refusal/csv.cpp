// RFC 4180 CSV parsing (csv.hpp).
#include "csv.hpp"

namespace qrun::behaviour {

Result<CsvRows> parse_csv(std::string_view text, const std::string& thing) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  CsvRows rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;       // inside a quoted field
  bool was_quoted = false;   // the current field was quoted (a quote closed it)
  std::size_t line = 1;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    was_quoted = false;
  };
  auto end_row = [&] {
    end_field();
    if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
    row.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
          was_quoted = true;
        }
      } else {
        if (ch == '\n') ++line;
        field += ch;
      }
      continue;
    }
    if (ch == ',') {
      end_field();
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      ++line;
    } else if (ch == '"') {
      if (!field.empty() || was_quoted)
        return Error::of(ErrorCode::corrupt_input, thing + ":" + std::to_string(line),
                         "a double quote inside an unquoted CSV field", "quote the whole field and double inner quotes");
      quoted = true;
    } else {
      if (was_quoted)
        return Error::of(ErrorCode::corrupt_input, thing + ":" + std::to_string(line),
                         "text after the closing quote of a CSV field", "quote the whole field");
      field += ch;
    }
  }
  if (quoted)
    return Error::of(ErrorCode::corrupt_input, thing, "ends inside a quoted CSV field",
                     "close the quote (the file may be truncated)");
  if (!field.empty() || !row.empty() || was_quoted) end_row();
  return rows;
}

int csv_column(const std::vector<std::string>& header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

}  // namespace qrun::behaviour
