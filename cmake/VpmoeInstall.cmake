# The CMake package third parties use: find_package(vpmoe) gives vpmoe::core and
# vpmoe_add_plugin(). Filled in by the plugin-loader work.
