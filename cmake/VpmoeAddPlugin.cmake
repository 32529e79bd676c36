# vpmoe_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
# Builds a loadable plugin module linked against the SDK. In the vpmoe tree it lands in
# build/lib/vpmoe/plugins; for a third party, in <binary dir>/plugins unless
# VPMOE_PLUGIN_OUTPUT_DIR says otherwise. Installs into lib/vpmoe/plugins.
function(vpmoe_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "vpmoe_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  if(TARGET vpmoe_core)
    target_link_libraries(${name} PRIVATE vpmoe_core ${ARG_LIBRARIES})
  else()
    target_link_libraries(${name} PRIVATE vpmoe::core ${ARG_LIBRARIES})
  endif()
  target_compile_features(${name} PRIVATE cxx_std_20)
  if(VPMOE_PLUGIN_OUTPUT_DIR)
    set(out ${VPMOE_PLUGIN_OUTPUT_DIR})
  else()
    set(out ${CMAKE_BINARY_DIR}/plugins)
  endif()
  # Installed beside libvpmoe_core in <libdir>/vpmoe/plugins: $ORIGIN/../.. finds it when the
  # plugin is opened by something other than vpmoe-host (which has core loaded already).
  set_target_properties(${name} PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${out}
                                           INSTALL_RPATH "$ORIGIN/../..")
  install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/vpmoe/plugins)
endfunction()
