# Find (or fetch) the two dependencies and define acc::onnxruntime and acc::nlohmann_json.
#
# ONNX Runtime
#   -DONNXRUNTIME_ROOT=<dir>  an ONNX Runtime SDK (include/ and lib/, as in the GitHub release tarballs).
#   otherwise                 headers of Debian's libonnxruntime-dev, library of the Python onnxruntime package:
#                             its C API is ABI-stable, so 1.21 headers run with any newer library (>= 1.21).
# nlohmann_json               an installed package (find_package), else Debian's nlohmann-json3-dev headers.
# Debian headers go to ACC_DEPS_DIR via scripts/fetch_deps.py; ACC_FETCH_DEPS=OFF forbids it. ACC_DEPS_DIR defaults
# to <build dir>/_deps (never the source tree, so a read-only or shared checkout configures cleanly); -DACC_DEPS_DIR=
# or the ACC_DEPS_DIR environment variable points several build directories at one cache.

set(ONNXRUNTIME_ROOT "" CACHE PATH "ONNX Runtime SDK directory (include/, lib/); empty: Debian headers + the pip library")
include(AccDepsDir)
option(ACC_FETCH_DEPS "Download missing headers from deb.debian.org into ACC_DEPS_DIR" ON)
set(ACC_MIN_ORT_VERSION 1.21)  # the version of the Debian headers: the library must be at least as new

find_package(Python3 COMPONENTS Interpreter)

function(acc_fetch_headers)
  if(NOT ACC_FETCH_DEPS)
    message(FATAL_ERROR "acc_runtime: headers missing in ${ACC_DEPS_DIR} and ACC_FETCH_DEPS=OFF; "
                        "run `python3 cpp/scripts/fetch_deps.py ${ACC_DEPS_DIR}` or pass -DONNXRUNTIME_ROOT=")
  endif()
  if(NOT Python3_Interpreter_FOUND)
    message(FATAL_ERROR "acc_runtime: Python 3 is needed to fetch headers; install python3 or pass -DONNXRUNTIME_ROOT=")
  endif()
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" "${CMAKE_CURRENT_LIST_DIR}/../scripts/fetch_deps.py" "${ACC_DEPS_DIR}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "acc_runtime: fetching headers from Debian failed:\n${err}")
  endif()
  if(out)
    message(STATUS "${out}")
  endif()
endfunction()

# ---------------------------------------------------------------------------------------------- nlohmann_json
find_package(nlohmann_json 3.10 CONFIG QUIET)
add_library(acc_nlohmann_json INTERFACE)
add_library(acc::nlohmann_json ALIAS acc_nlohmann_json)
if(nlohmann_json_FOUND)
  target_link_libraries(acc_nlohmann_json INTERFACE nlohmann_json::nlohmann_json)
else()
  if(NOT EXISTS "${ACC_DEPS_DIR}/nlohmann_json/include/nlohmann/json.hpp")
    acc_fetch_headers()
  endif()
  target_include_directories(acc_nlohmann_json SYSTEM INTERFACE "${ACC_DEPS_DIR}/nlohmann_json/include")
endif()

# ---------------------------------------------------------------------------------------------- ONNX Runtime
if(ONNXRUNTIME_ROOT)
  find_path(ACC_ORT_INCLUDE_DIR onnxruntime_cxx_api.h
            PATHS "${ONNXRUNTIME_ROOT}/include" "${ONNXRUNTIME_ROOT}/include/onnxruntime"
            NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)  # a cross build's SDK path is used as given
  find_library(ACC_ORT_LIBRARY onnxruntime PATHS "${ONNXRUNTIME_ROOT}/lib" "${ONNXRUNTIME_ROOT}/lib64"
               NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
  if(NOT ACC_ORT_INCLUDE_DIR OR NOT ACC_ORT_LIBRARY)
    message(FATAL_ERROR "acc_runtime: ONNXRUNTIME_ROOT=${ONNXRUNTIME_ROOT} lacks include/onnxruntime_cxx_api.h or "
                        "lib/libonnxruntime.so; pass the directory of an extracted ONNX Runtime release")
  endif()
  set(ACC_ORT_LINK "${ACC_ORT_LIBRARY}")
  set(ACC_ORT_SUMMARY "SDK ${ONNXRUNTIME_ROOT}")
else()
  if(NOT EXISTS "${ACC_DEPS_DIR}/onnxruntime/include/onnxruntime_cxx_api.h")
    acc_fetch_headers()
  endif()
  set(ACC_ORT_INCLUDE_DIR "${ACC_DEPS_DIR}/onnxruntime/include")
  if(NOT Python3_Interpreter_FOUND)
    message(FATAL_ERROR "acc_runtime: no Python 3 to find the onnxruntime library in; activate the venv with "
                        "acc-deploy installed or pass -DONNXRUNTIME_ROOT=<ONNX Runtime SDK>")
  endif()
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c
            "import os, onnxruntime; print(onnxruntime.__version__); print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "acc_runtime: ${Python3_EXECUTABLE} cannot import onnxruntime; activate the venv with "
                        "acc-deploy installed (pip install -e .) or pass -DONNXRUNTIME_ROOT=<ONNX Runtime SDK>")
  endif()
  string(REPLACE "\n" ";" out "${out}")
  list(GET out 0 ACC_ORT_PY_VERSION)
  list(GET out 1 ACC_ORT_CAPI_DIR)
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _ort_minor "${ACC_ORT_PY_VERSION}")
  if(_ort_minor VERSION_LESS ACC_MIN_ORT_VERSION)
    message(FATAL_ERROR "acc_runtime: onnxruntime ${ACC_ORT_PY_VERSION} is older than the ${ACC_MIN_ORT_VERSION} "
                        "headers; pip install -U onnxruntime, or pass -DONNXRUNTIME_ROOT=<ONNX Runtime SDK>")
  endif()
  file(GLOB _ort_libs "${ACC_ORT_CAPI_DIR}/libonnxruntime.so*")
  list(FILTER _ort_libs INCLUDE REGEX "libonnxruntime\\.so(\\.[0-9]+)*$")
  list(SORT _ort_libs)
  if(NOT _ort_libs)
    message(FATAL_ERROR "acc_runtime: the onnxruntime package in ${ACC_ORT_CAPI_DIR} has no libonnxruntime.so; "
                        "pip install --force-reinstall onnxruntime, or pass -DONNXRUNTIME_ROOT=<ONNX Runtime SDK>")
  endif()
  list(GET _ort_libs -1 _ort_real)
  # The wheel ships only libonnxruntime.so.X.Y.Z while its SONAME is libonnxruntime.so.X: give the linker and the
  # loader the names they look for, as links in the build tree (the build RPATH points there).
  string(REGEX MATCH "libonnxruntime\\.so\\.[0-9]+" _ort_soname "${_ort_real}")
  set(_ort_link_dir "${CMAKE_BINARY_DIR}/onnxruntime")
  file(MAKE_DIRECTORY "${_ort_link_dir}")
  file(CREATE_LINK "${_ort_real}" "${_ort_link_dir}/libonnxruntime.so" SYMBOLIC)
  if(_ort_soname)
    file(CREATE_LINK "${_ort_real}" "${_ort_link_dir}/${_ort_soname}" SYMBOLIC)
  endif()
  set(ACC_ORT_LINK "${_ort_link_dir}/libonnxruntime.so")
  set(ACC_ORT_SUMMARY "${ACC_ORT_PY_VERSION} (library of the Python package, ${_ort_real}; Debian 1.21 headers)")
endif()

add_library(acc::onnxruntime SHARED IMPORTED GLOBAL)
set_target_properties(acc::onnxruntime PROPERTIES
  IMPORTED_LOCATION "${ACC_ORT_LINK}"
  INTERFACE_INCLUDE_DIRECTORIES "${ACC_ORT_INCLUDE_DIR}")
