// A shared library that is not a vpmoe plugin (no vpmoe_plugin_v1 symbol).
extern "C" int vpmoe_test_not_a_plugin() {
  return 42;
}
