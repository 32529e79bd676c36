# The CMake package third parties use: find_package(vpmoe) gives vpmoe::core and
# vpmoe_add_plugin(). core/CMakeLists.txt installs libvpmoe_core (export set vpmoeTargets) and
# the SDK headers; this adds the package files around them.
include(CMakePackageConfigHelpers)
set(VPMOE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/vpmoe)

# cudart, cuBLAS and the other private dependencies are linked into the shared library only;
# an installed libvpmoe_core must still find them at run time (a toolkit outside ld.so.conf).
if(VPMOE_WITH_CUDA AND CUDAToolkit_LIBRARY_DIR)
  set_property(TARGET vpmoe_core APPEND PROPERTY INSTALL_RPATH ${CUDAToolkit_LIBRARY_DIR})
endif()

install(EXPORT vpmoeTargets NAMESPACE vpmoe:: FILE vpmoeTargets.cmake
        DESTINATION ${VPMOE_INSTALL_CMAKEDIR})

set(VPMOE_BOOST_MIN_VERSION 1.74)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vpmoeConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/cmake/vpmoeConfig.cmake
                              INSTALL_DESTINATION ${VPMOE_INSTALL_CMAKEDIR})
# The build tag pins plugins to this exact core at load time; find_package only needs to keep
# 0.x minors apart.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/vpmoeConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/vpmoeConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/vpmoeConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/VpmoeAddPlugin.cmake
        DESTINATION ${VPMOE_INSTALL_CMAKEDIR})
