# cmake -DBUILD_DIR= -DEXAMPLE_DIR= -DWORK_DIR= -DGENERATOR= -DCXX_COMPILER= -DBUILD_TYPE=
#       -P sdk_install.cmake
cmake_minimum_required(VERSION 3.25)

function(step what)
  message(STATUS "sdk_install: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sdk_install: ${what} failed (${rc})\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(example_build ${WORK_DIR}/example)
file(REMOVE_RECURSE ${WORK_DIR})

step("install the build into ${prefix}" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# Only the installed SDK: no package registry, no build tree, no CUDA; the same compiler,
# because the build tag pins it.
step("configure the example against the installed SDK"
  ${CMAKE_COMMAND} -S ${EXAMPLE_DIR} -B ${example_build} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
file(STRINGS ${example_build}/CMakeCache.txt vpmoe_dir REGEX "^vpmoe_DIR:")
string(FIND "${vpmoe_dir}" "${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "sdk_install: the example found vpmoe outside ${prefix}: ${vpmoe_dir}")
endif()
step("build the example" ${CMAKE_COMMAND} --build ${example_build})

set(plugin_dir ${example_build}/plugins)
step("list plugins with the installed host"
  ${CMAKE_COMMAND} -E env --unset=VPMOE_PLUGIN_PATH
    ${prefix}/bin/vpmoe-host plugins --json --plugin-path ${plugin_dir})
set(json "${step_out}")

string(JSON n_errors LENGTH "${json}" errors)
if(n_errors GREATER 0)
  string(JSON errors GET "${json}" errors)
  message(FATAL_ERROR "sdk_install: plugin files failed to load: ${errors}")
endif()
string(JSON n LENGTH "${json}" plugins)
set(found OFF)
if(n GREATER 0)
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    string(JSON name GET "${json}" plugins ${i} name)
    if(name STREQUAL "positional.example_alibi")
      string(JSON kind GET "${json}" plugins ${i} kind)
      string(JSON plugin GET "${json}" plugins ${i} plugin)
      string(JSON version GET "${json}" plugins ${i} version)
      string(JSON file GET "${json}" plugins ${i} file)
      set(found ON)
    endif()
  endforeach()
endif()
file(REAL_PATH ${plugin_dir}/example_alibi.so expected_file)  # the host lists canonical paths
if(NOT found)
  message(FATAL_ERROR "sdk_install: positional.example_alibi not listed:\n${json}")
endif()
if(NOT kind STREQUAL "positional" OR NOT plugin STREQUAL "example_alibi"
   OR NOT version STREQUAL "0.1.0" OR NOT file STREQUAL expected_file)
  message(FATAL_ERROR "sdk_install: unexpected entry kind=${kind} plugin=${plugin} "
                      "version=${version} file=${file}")
endif()
message(STATUS "sdk_install: positional.example_alibi ${version} from ${file}: ok")
