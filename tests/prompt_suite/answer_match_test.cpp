// Matching rules on hand-made answers (datasets/README.md, "Matching rules").
#include "answer_match.hpp"

#include <catch2/catch.hpp>

using namespace qrun::prompt_suite;

namespace {
Reference number(double value, double tolerance = 0) {
  Reference r;
  r.rule = Rule::number;
  r.value = value;
  r.tolerance = tolerance;
  return r;
}
Reference contains_any(std::vector<std::string> any) {
  Reference r;
  r.rule = Rule::contains_any;
  r.any = std::move(any);
  return r;
}
Reference label(std::string expected, std::vector<std::string> labels) {
  Reference r;
  r.rule = Rule::label;
  r.label = std::move(expected);
  r.labels = std::move(labels);
  return r;
}
Reference regex(std::string pattern, bool ignore_case) {
  Reference r;
  r.rule = Rule::regex;
  r.pattern = std::move(pattern);
  r.ignore_case = ignore_case;
  return r;
}
}  // namespace

TEST_CASE("numbers are extracted with signs, thousands groups and decimals", "[prompt_suite][match]") {
  CHECK(extract_numbers("It costs 1,200.50 dollars, -3 degrees, 3-4 days, 1/2 cup, version v2.")
        == std::vector<double>{1200.5, -3, 3, 4, 1, 2});
  CHECK(extract_numbers("no digits here").empty());
  CHECK(extract_numbers("1,2,3") == std::vector<double>{1, 2, 3});
  CHECK(extract_numbers("The answer is 42.") == std::vector<double>{42});
}

TEST_CASE("the number rule accepts the first or the last number of the answer", "[prompt_suite][match]") {
  CHECK(answer_matches(number(29), "29 dollars. She pays 50 and spends 21."));
  CHECK(answer_matches(number(29), "She spends 7 x 3 = 21, so the change is 50 - 21 = 29"));
  CHECK_FALSE(answer_matches(number(29), "She spends 21, gets 29 back, total 50"));
  CHECK_FALSE(answer_matches(number(29), "twenty-nine"));
}

TEST_CASE("the number rule compares within the absolute tolerance", "[prompt_suite][match]") {
  CHECK(answer_matches(number(300000, 1000), "About 299,792 km/s."));
  CHECK(answer_matches(number(300000, 1000), "Roughly 300,000 kilometres per second"));
  CHECK_FALSE(answer_matches(number(300000, 1000), "About 186,000 miles per second"));
  CHECK(answer_matches(number(0.5), "x = 0.5"));
  CHECK_FALSE(answer_matches(number(8), "x = 8.01"));
}

TEST_CASE("contains_any matches normalised whole words only", "[prompt_suite][match]") {
  CHECK(answer_matches(contains_any({"tokyo"}), "The capital is TOKYO."));
  CHECK(answer_matches(contains_any({"glass of water"}), "I would like a glass\nof   water, please"));
  CHECK_FALSE(answer_matches(contains_any({"cat"}), "concatenate the strings"));
  CHECK(answer_matches(contains_any({"don't have time"}), "I don't have time today"));
  CHECK(answer_matches(contains_any({"buenos días"}), "¡Buenos días!"));
  CHECK_FALSE(answer_matches(contains_any({"mars", "venus"}), "Jupiter"));
}

TEST_CASE("normalisation lower-cases ASCII, turns punctuation into single spaces and pads both ends",
          "[prompt_suite][match]") {
  CHECK(normalise_for_match("Hello,  World!") == " hello world ");
  CHECK(normalise_for_match("") == " ");
  CHECK(normalise_for_match("CO\xe2\x82\x82") == " co\xe2\x82\x82 ");  // CO₂: the subscript is kept
}

TEST_CASE("non-ASCII punctuation separates words like ASCII punctuation", "[prompt_suite][match]") {
  CHECK(normalise_for_match("\xc2\xa1Hola!\xe2\x80\x94" "dijo") == " hola dijo ");   // ¡Hola!—dijo
  CHECK(answer_matches(contains_any({"don't have time"}), "I don\xe2\x80\x99t have time"));  // curly ’
  CHECK(answer_matches(contains_any({"\xe6\x9d\xb1\xe4\xba\xac"}),                      // 東京
                       "\xe3\x80\x8c\xe6\x9d\xb1\xe4\xba\xac\xe3\x80\x8d\xe3\x81\xa7\xe3\x81\x99"));  // 「東京」です
  CHECK(normalise_for_match("a\xff" "b") == " a\xff" "b ");  // an invalid byte is kept as it is
}

TEST_CASE("the label rule takes the earliest label named in the answer", "[prompt_suite][match]") {
  const std::vector<std::string> labels = {"positive", "negative", "neutral"};
  CHECK(answer_matches(label("negative", labels), "Negative. The review is not positive."));
  CHECK_FALSE(answer_matches(label("negative", labels), "Positive, not negative."));
  CHECK_FALSE(answer_matches(label("negative", labels), "I cannot tell."));
  CHECK(answer_matches(label("no", {"yes", "no"}), "No, it did not rain."));
  CHECK_FALSE(answer_matches(label("no", {"yes", "no"}), "Nobody knows, yes."));  // "nobody" is not "no"
}

TEST_CASE("the regex rule searches the raw answer, case-sensitive unless told otherwise", "[prompt_suite][match]") {
  CHECK(answer_matches(regex("BANANA", false), "BANANA"));
  CHECK_FALSE(answer_matches(regex("BANANA", false), "banana"));
  CHECK(answer_matches(regex("BANANA", true), "banana"));
  CHECK(answer_matches(regex("\\bAu\\b", false), "The symbol is Au."));
  CHECK_FALSE(answer_matches(regex("\\bAu\\b", false), "Audio"));
  CHECK(answer_matches(regex("1[.)][^\\n]*\\n\\s*2[.)][^\\n]*\\n\\s*3[.)]", false), "1. apple\n2. pear\n3. plum"));
}
