// TEST-ONLY library: an ordinary shared library named like a plugin, without qrun_plugin_info.
extern "C" __attribute__((visibility("default"))) int qrun_test_plain_answer() { return 42; }
