// The SVG charts are well-formed XML (checked by xml_check.cpp), are SVG documents with a size,
// and draw something: one bar per finite value.
#include "fixture.hpp"
#include "xml_check.hpp"

#include "report/report.hpp"
#include "report/svg_chart.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace qrun::test;

namespace {

std::size_t count(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), x));
}

}  // namespace

TEST_CASE("the xml checker accepts well-formed and rejects broken documents", "[report][svg]") {
  std::string err;
  CHECK(check_xml("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; &#x41;<!-- c --></a>\n", err));
  for (const char* bad : {"<a><b></a></b>", "<a x=1/>", "<a x=\"1\" x=\"2\"/>", "<a>&nbsp;</a>", "<a>x < y</a>",
                          "<a/><b/>", "<a>", "text", "<a y=\"<\"/>"}) {
    INFO(bad);
    CHECK_FALSE(check_xml(bad, err));
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("every chart of the golden report is a well-formed, non-trivial SVG", "[report][svg]") {
  auto files = render_json(golden_results());
  REQUIRE(files.ok());
  std::size_t svgs = 0;
  for (const auto& f : *files) {
    if (f.name.size() < 4 || f.name.substr(f.name.size() - 4) != ".svg") continue;
    ++svgs;
    INFO(f.name);
    std::string err;
    auto xml = check_xml(f.content, err);
    INFO(err);
    REQUIRE(xml);
    CHECK(xml->root == "svg");
    CHECK(f.content.find("xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
    CHECK(f.content.find(" width=\"") != std::string::npos);
    CHECK(count(xml->elements, "rect") >= 3);  // background + at least two bars/legend swatches
    CHECK(count(xml->elements, "text") >= 4);
    auto md = render_md(golden_results());
    CHECK(md.find("](" + f.name + ")") != std::string::npos);  // linked from the report
  }
  CHECK(svgs == 5);  // ΔPPL, KL per category, size, prefill, decode
}

TEST_CASE("chart text with markup characters is escaped", "[report][svg]") {
  qrun::report::BarChart c{"a < b & \"c\"", "x", {"<cat>"}, {{"s&s", {{1.0, "1 & 2"}}}}};
  std::string svg = qrun::report::render_svg_bar_chart(c);
  std::string err;
  CHECK(check_xml(svg, err));
  CHECK(svg.find("a &lt; b &amp; &quot;c&quot;") != std::string::npos);
}

TEST_CASE("a chart draws one bar per finite value and none for missing or NaN", "[report][svg]") {
  qrun::report::BarChart c{"t", "x", {"a", "b", "c", "d"},
                           {{"s", {{2.0, "2"}, {-1.0, "-1"}, {std::nullopt, "n/a"}, {std::nan(""), "nan"}}}}};
  std::string svg = qrun::report::render_svg_bar_chart(c);
  std::string err;
  auto xml = check_xml(svg, err);
  REQUIRE(xml);
  // rects: background, one legend swatch, two bars
  CHECK(count(xml->elements, "rect") == 4);
}
