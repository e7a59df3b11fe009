// Fixed number and text formatting rules for the report, so the same JSON always gives the same
// bytes. Every number in report.md and the SVGs goes through these functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace qrun::report {

// 4 significant digits in fixed notation (12.85, 0.04123, 1234, 88123); scientific with 3
// decimals below 1e-4 or from 1e7 on (1.234e-05); "0" for zero; "nan"/"inf" spelled out.
std::string fmt_num(double x);
// Fixed decimals ("%.*f").
std::string fmt_fixed(double x, int decimals);
// Fixed decimals with an explicit sign: "+3.10", "-0.25", "+0.00".
std::string fmt_signed(double x, int decimals);
// fmt_num with an explicit sign: "+10.70", "-0.06510", "+0".
std::string fmt_signed_num(double x);
// A change in % or pp: fmt_signed(x, 2), except that a non-zero change too small for two
// decimals keeps 4 significant digits ("+0.0003456") instead of reading as "+0.00".
std::string fmt_delta(double x);
// Shortest form of a user-given number ("%.6g"): thresholds print as written (5, 0.05, 1.25).
std::string fmt_short(double x);
// Bytes in decimal units (1 MB = 10^6 B) with 2 decimals: "471.23 MB", "950 B".
std::string fmt_bytes(double bytes);
// A value with its unit: bytes through fmt_bytes, "%" and other units after a space.
std::string fmt_with_unit(double x, std::string_view unit);

// 100 * (value - base) / base; nullopt when base is 0 or either is not finite.
std::optional<double> pct_change(double value, double base);

// Markdown table cell: '|' escaped, newlines turned into spaces.
std::string md_cell(std::string_view text);
// XML character data / attribute value escaping (& < > " ').
std::string xml_escape(std::string_view text);
// A file-name-safe slug: [a-z0-9_] only, other runs become '_'.
std::string slug(std::string_view text);
// Display width of UTF-8 text in code points (table padding; the report uses no wide glyphs).
std::size_t display_width(std::string_view utf8);

}  // namespace qrun::report
