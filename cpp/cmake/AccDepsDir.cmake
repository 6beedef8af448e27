# ACC_DEPS_DIR: where headers downloaded from Debian are cached (shared by cpp/ and cpp/ops).
# Precedence: -DACC_DEPS_DIR=<dir>, then the ACC_DEPS_DIR environment variable, then <build dir>/_deps. The default
# sits in the build tree so that configuring never writes into the source tree (`-B build/x` owns all its files).
if(DEFINED ENV{ACC_DEPS_DIR} AND NOT "$ENV{ACC_DEPS_DIR}" STREQUAL "")
  set(_acc_default_deps_dir "$ENV{ACC_DEPS_DIR}")
else()
  set(_acc_default_deps_dir "${CMAKE_BINARY_DIR}/_deps")
endif()
set(ACC_DEPS_DIR "${_acc_default_deps_dir}" CACHE PATH "Cache of headers downloaded from Debian (default <build>/_deps)")
