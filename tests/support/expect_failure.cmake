# cmake -DBINARY=<test binary> -P expect_failure.cmake: runs the binary's hidden [.self_check] case,
# which fails on purpose, and checks what ctest relies on: a non-zero exit code and Catch2's
# summary line counting the failed case.
execute_process(COMMAND "${BINARY}" "[.self_check]" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "a failing case left ${BINARY} with exit code 0, so ctest would pass it:\n${out}")
endif()
if(NOT out MATCHES "test cases: 1 \\| 1 failed")
  message(FATAL_ERROR "no Catch2 summary line \"test cases: 1 | 1 failed\" in the output:\n${out}")
endif()
message(STATUS "exit code ${rc} and the summary line, as ctest needs")
