// Helpers shared by the experiment parser's files (internal to framework/src/experiment/).
#pragma once

#include <qrun/error.hpp>
#include <qrun/params.hpp>

// toml++ 3.3.0 asserts a parser precondition that malformed input can break (`[#`, `[[[1]]]`:
// parse_key() entered on a non-key character; found by tests/fuzz/fuzz_experiment, fixed upstream in
// marzer/tomlplusplus#301). Release builds (NDEBUG) already skip the assert and raise the parser's
// own parse_error; this makes every build do so instead of aborting on a user's file.
#ifndef TOML_ASSERT
#define TOML_ASSERT(expr) static_assert(true)
#endif
#include <toml++/toml.h>

#include <string>
#include <string_view>
#include <vector>

namespace qrun::experiment_detail {

// "file:line:col" of a parsed node or key, or "--set" for one an override inserted.
std::string where(const toml::source_region& src, const std::string& file);
inline std::string where(const toml::node& n, const std::string& file) { return where(n.source(), file); }
inline std::string where(const toml::key& k, const std::string& file) { return where(k.source(), file); }

// "integer", "string", "table", ... as a TOML user would name the type.
std::string type_name(const toml::node& n);

// The TOML value as a plugin parameter; tables, dates and mixed/non-string arrays are refused.
// `at` is the error thing to use (position and key path).
Result<ParamValue> to_param_value(const toml::node& n, const std::string& at);

// toml++'s parse_error description for one error line: it quotes the offending character raw (a
// newline, a NUL), so control characters become escapes ("\n", "\x00") and the text is cut to 300
// characters (found by tests/fuzz/fuzz_experiment: a newline split the error over two lines).
std::string one_line(std::string_view text, std::size_t max_size = 300);
// The same for an Error's thing and reason (cut to 400), and its fix (escaped, not cut).
Error one_line(Error e);

// Applies "--set path=value" texts to the parsed tree. Paths: key(.key)* with [index] after any
// key ("metrics[0].max_length", "model.path"); missing tables are created. Values parse as TOML
// (3, 0.5, true, "x", [1, 2]); anything that does not parse as a TOML value is a string.
Result<void> apply_overrides(toml::table& root, const std::vector<std::string>& overrides);

}  // namespace qrun::experiment_detail
