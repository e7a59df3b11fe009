// percentile(sorted, q): linear interpolation at q·(n-1), as numpy's default and llama.cpp.
#include <qrun/stats.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

using Catch::Matchers::WithinAbs;

TEST_CASE("percentile interpolates linearly between closest ranks", "[stats][percentile]") {
  const std::vector<double> v = {1.0, 2.0, 4.0, 8.0, 16.0};
  // numpy.percentile([1,2,4,8,16], [0,10,25,50,90,100]) = 1, 1.4, 2, 4, 12.8, 16
  REQUIRE(qrun::percentile(v, 0.0) == 1.0);
  REQUIRE_THAT(qrun::percentile(v, 0.10), WithinAbs(1.4, 1e-12));
  REQUIRE(qrun::percentile(v, 0.25) == 2.0);
  REQUIRE(qrun::percentile(v, 0.5) == 4.0);
  REQUIRE_THAT(qrun::percentile(v, 0.90), WithinAbs(12.8, 1e-12));
  REQUIRE(qrun::percentile(v, 1.0) == 16.0);
}

TEST_CASE("percentile at one half is the median of an even count", "[stats][percentile]") {
  const std::vector<double> v = {1.0, 3.0, 5.0, 11.0};
  REQUIRE(qrun::percentile(v, 0.5) == 4.0);
}

TEST_CASE("percentile of a single value is that value", "[stats][percentile]") {
  const std::vector<double> v = {7.0};
  REQUIRE(qrun::percentile(v, 0.0) == 7.0);
  REQUIRE(qrun::percentile(v, 0.999) == 7.0);
}

TEST_CASE("percentile refuses no values and q outside [0, 1]", "[stats][percentile]") {
  const std::vector<double> empty, v = {1.0, 2.0};
  REQUIRE_THROWS_AS(qrun::percentile(empty, 0.5), std::invalid_argument);
  REQUIRE_THROWS_AS(qrun::percentile(v, -0.1), std::invalid_argument);
  REQUIRE_THROWS_AS(qrun::percentile(v, 1.5), std::invalid_argument);
}
