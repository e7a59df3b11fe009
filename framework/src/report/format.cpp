#include "report/format.hpp"

#include <cmath>
#include <cstdio>

namespace qrun::report {

namespace {
constexpr int kSignificantDigits = 4;
constexpr double kSciBelow = 1e-4;  // smaller magnitudes print in scientific notation
constexpr double kSciFrom = 1e7;    // so do larger ones

std::string printf_double(const char* format, int decimals, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, decimals, x);
  return buf;
}
}  // namespace

std::string fmt_fixed(double x, int decimals) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::string s = printf_double("%.*f", decimals, x);
  if (s.size() > 1 && s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // no "-0.00"
  return s;
}

std::string fmt_num(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return "0";
  double a = std::fabs(x);
  if (a < kSciBelow || a >= kSciFrom) return printf_double("%.*e", kSignificantDigits - 1, x);
  int magnitude = static_cast<int>(std::floor(std::log10(a)));
  int decimals = std::max(0, kSignificantDigits - 1 - magnitude);
  return fmt_fixed(x, decimals);
}

std::string fmt_signed(double x, int decimals) {
  std::string s = fmt_fixed(x, decimals);
  if (std::isfinite(x) && s[0] != '-') s.insert(s.begin(), '+');
  return s;
}

std::string fmt_signed_num(double x) {
  std::string s = fmt_num(x);
  if (std::isfinite(x) && s[0] != '-') s.insert(s.begin(), '+');
  return s;
}

std::string fmt_delta(double x) {
  std::string s = fmt_signed(x, 2);
  if (std::isfinite(x) && x != 0 && std::fabs(x) < 0.005) return fmt_signed_num(x);  // would print as ±0.00
  return s;
}

std::string fmt_short(double x) {
  if (!std::isfinite(x)) return fmt_num(x);
  return printf_double("%.*g", 6, x);
}

std::string fmt_bytes(double bytes) {
  if (!std::isfinite(bytes)) return fmt_fixed(bytes, 0);
  double a = std::fabs(bytes);
  if (a >= 1e9) return fmt_fixed(bytes / 1e9, 2) + " GB";
  if (a >= 1e6) return fmt_fixed(bytes / 1e6, 2) + " MB";
  if (a >= 1e3) return fmt_fixed(bytes / 1e3, 2) + " kB";
  return fmt_fixed(bytes, 0) + " B";
}

std::string fmt_with_unit(double x, std::string_view unit) {
  if (unit == "bytes" || unit == "B") return fmt_bytes(x);
  if (unit.empty()) return fmt_num(x);
  return fmt_num(x) + " " + std::string(unit);
}

std::optional<double> pct_change(double value, double base) {
  if (base == 0 || !std::isfinite(base) || !std::isfinite(value)) return std::nullopt;
  return 100.0 * (value - base) / base;
}

std::string md_cell(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string slug(std::string_view text) {
  std::string out;
  for (char c : text) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c >= 'A' && c <= 'Z') { c = static_cast<char>(c - 'A' + 'a'); keep = true; }
    if (keep) out += c;
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "x" : out;
}

std::size_t display_width(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8)
    if ((c & 0xC0) != 0x80) ++n;  // count lead bytes only
  return n;
}

}  // namespace qrun::report
