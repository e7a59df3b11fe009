#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

// Fails on purpose and is hidden ([.]: never run unless named). The ctest entry
// ctest_fails_on_a_failing_case (tests/CMakeLists.txt) runs it to prove that a failed case makes
// a test binary exit non-zero with Catch2's summary line, so it fails its ctest entry.
TEST_CASE("a failing case fails its ctest entry", "[.self_check]") {
  const int expected = 3;
  CHECK(1 + 1 == expected);
}
