// The fixed number formatting rules and the text bars.
#include "report/format.hpp"
#include "report/markdown.hpp"
#include "results/declarations.hpp"
#include "report/text_bars.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace qrun::report;

TEST_CASE("numbers print with four significant digits in fixed notation", "[report][format]") {
  CHECK(fmt_num(12.8512) == "12.85");
  CHECK(fmt_num(0.04123) == "0.04123");
  CHECK(fmt_num(1234.56) == "1235");
  CHECK(fmt_num(88123.4) == "88123");
  CHECK(fmt_num(-0.5) == "-0.5000");
  CHECK(fmt_num(0) == "0");
  CHECK(fmt_num(3.1e-5) == "3.100e-05");
  CHECK(fmt_num(2.5e7) == "2.500e+07");
  CHECK(fmt_num(std::nan("")) == "nan");
  CHECK(fmt_num(-INFINITY) == "-inf");
}

TEST_CASE("signed, short, byte and percent-change formats follow their rules", "[report][format]") {
  CHECK(fmt_signed(3.1, 2) == "+3.10");
  CHECK(fmt_signed(-0.001, 2) == "+0.00");  // no "-0.00"
  CHECK(fmt_signed_num(-0.06510) == "-0.06510");
  CHECK(fmt_short(5) == "5");
  CHECK(fmt_short(0.05) == "0.05");
  CHECK(fmt_bytes(471234567) == "471.23 MB");
  CHECK(fmt_bytes(950) == "950 B");
  CHECK(fmt_bytes(2.5e9) == "2.50 GB");
  CHECK(pct_change(10.5, 10.0).value() == Approx(5.0));
  CHECK_FALSE(pct_change(1, 0).has_value());
}

TEST_CASE("a change too small for two decimals keeps its significant digits instead of reading as zero",
          "[report][format]") {
  CHECK(fmt_delta(2.19) == "+2.19");
  CHECK(fmt_delta(-6.875) == "-6.88");
  CHECK(fmt_delta(0) == "+0.00");
  CHECK(fmt_delta(0.0003456) == "+0.0003456");
  CHECK(fmt_delta(-4.2e-06) == "-4.200e-06");
  CHECK(fmt_delta(0.005) == "+0.01");  // from 0.005 on, two decimals (the double nearest 0.005 is just above it)
}

TEST_CASE("a value nobody declared is shown under its own name with its own unit and direction", "[report][format]") {
  const qrun::ValueSpec s = qrun::declare_from_record({"zorp", 3.5, std::nullopt, 7, "widgets", qrun::Better::higher, ""});
  CHECK(s.name == "zorp");
  CHECK(s.label == "zorp");
  CHECK(s.unit == "widgets");
  CHECK(s.better == qrun::Better::higher);
  CHECK(s.compare == qrun::Compare::change);  // directional: Δ vs the baseline in %
  CHECK(s.chart == qrun::Chart::none);
  CHECK(s.criteria.empty());
  CHECK(qrun::declare_from_record({"n_things", 1, std::nullopt, 1, "", qrun::Better::none, ""}).compare ==
        qrun::Compare::none);
}

TEST_CASE("markdown tables pad columns and escape pipes", "[report][format]") {
  Table t{{"a", "b"}, {Align::left, Align::right}, {}};
  t.row({"x|y", "1"});
  CHECK(render_table(t) == "| a    |   b |\n| ---- | --: |\n| x\\|y |   1 |\n");
  CHECK(render_table(Table{}) == "_(no data)_\n");
}

TEST_CASE("text bars scale to the largest magnitude in eighth-cell steps", "[report][format]") {
  std::string out = render_text_bars({{"a", 1.0, "1"}, {"bb", 0.5, "0.5"}, {"c", std::nan(""), "n/a"}}, 4);
  CHECK(out == "a  ████ 1\nbb ██   0.5\nc       n/a\n");
  CHECK(render_text_bars({{"a", 1.0, "1"}, {"b", 1.0 / 32, "x"}}, 4) == "a ████ 1\nb ▏    x\n");
}
