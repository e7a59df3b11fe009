// The repetition-loop rule on crafted token sequences (datasets/README.md, "Success").
#include "repetition.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace qrun::prompt_suite;
using Tokens = std::vector<std::int64_t>;

namespace {
Tokens range(std::int64_t from, std::int64_t count) {
  Tokens t;
  for (std::int64_t i = 0; i < count; ++i) t.push_back(from + i);
  return t;
}
Tokens repeat(const Tokens& unit, int times) {
  Tokens t;
  for (int i = 0; i < times; ++i) t.insert(t.end(), unit.begin(), unit.end());
  return t;
}
Tokens concat(Tokens a, const Tokens& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

TEST_CASE("distinct tokens are not a loop", "[prompt_suite][loop]") {
  LoopFinding f = detect_loop(range(100, 128), LoopRule{});
  CHECK_FALSE(f.is_loop);
  CHECK(f.length == 0);
}

TEST_CASE("one token repeated over the whole output is a period-1 loop", "[prompt_suite][loop]") {
  LoopFinding f = detect_loop(Tokens(64, 7), LoopRule{});
  CHECK(f.is_loop);
  CHECK(f.period == 1);
  CHECK(f.length == 64);
}

TEST_CASE("text followed by a long period-3 tail is a loop with the tail's exact length", "[prompt_suite][loop]") {
  // 40 distinct tokens, then 30 repeats of (1, 2, 3): L_3 = 90 >= max(4*3, 8) and 90 >= 0.5*130.
  Tokens t = concat(range(100, 40), repeat({1, 2, 3}, 30));
  LoopFinding f = detect_loop(t, LoopRule{});
  CHECK(f.is_loop);
  CHECK(f.period == 3);
  CHECK(f.length == 90);
}

TEST_CASE("a periodic tail covering less than min_coverage of the output is not a loop", "[prompt_suite][loop]") {
  // 100 distinct tokens then 10 repeats of (5, 6): L_2 = 20 < 0.5 * 120.
  Tokens t = concat(range(100, 100), repeat({5, 6}, 10));
  LoopFinding f = detect_loop(t, LoopRule{});
  CHECK_FALSE(f.is_loop);
  CHECK(f.period == 2);
  CHECK(f.length == 20);
  LoopRule lenient;
  lenient.min_coverage = 0.1;
  CHECK(detect_loop(t, lenient).is_loop);
}

TEST_CASE("a unit seen fewer than min_repeats times is not a loop", "[prompt_suite][loop]") {
  // (1..8) three times: L_8 = 24 < 4 * 8.
  LoopFinding f = detect_loop(repeat(range(1, 8), 3), LoopRule{});
  CHECK_FALSE(f.is_loop);
  CHECK(f.length == 24);
  // Four times: L_8 = 32 = 4 * 8, covering the whole output.
  CHECK(detect_loop(repeat(range(1, 8), 4), LoopRule{}).is_loop);
}

TEST_CASE("periods longer than max_period are not considered", "[prompt_suite][loop]") {
  Tokens t = repeat(range(1, 9), 6);  // period 9
  CHECK_FALSE(detect_loop(t, LoopRule{}).is_loop);
  LoopRule wider;
  wider.max_period = 9;
  LoopFinding f = detect_loop(t, wider);
  CHECK(f.is_loop);
  CHECK(f.period == 9);
}

TEST_CASE("a short repeated tail below min_tokens is not a loop", "[prompt_suite][loop]") {
  // "word word word ! ! ! ! !": 5 repeats of one token, L_1 = 5 < 8 although it covers > half.
  Tokens t = concat({10, 11, 12}, Tokens(5, 33));
  CHECK_FALSE(detect_loop(t, LoopRule{}).is_loop);
}

TEST_CASE("empty and one-token outputs are not loops", "[prompt_suite][loop]") {
  CHECK_FALSE(detect_loop(Tokens{}, LoopRule{}).is_loop);
  CHECK_FALSE(detect_loop(Tokens{5}, LoopRule{}).is_loop);
}
