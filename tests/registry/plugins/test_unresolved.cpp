// TEST-ONLY library: uses a function no library defines, so loading it with RTLD_NOW fails.
extern "C" int qrun_test_symbol_nobody_defines();
extern "C" __attribute__((visibility("default"))) int qrun_test_unresolved() {
  return qrun_test_symbol_nobody_defines();
}
