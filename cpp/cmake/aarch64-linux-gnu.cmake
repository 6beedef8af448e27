# Cross-compile cpp/ (and cpp/ops) for 64-bit Arm Linux (Jetson, Graviton, Raspberry Pi 4/5) on an x86-64 Debian or
# Ubuntu host with the distribution's cross toolchain:
#
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   cmake -S cpp -B build/aarch64/cpp -DCMAKE_TOOLCHAIN_FILE=cpp/cmake/aarch64-linux-gnu.cmake \
#         -DONNXRUNTIME_ROOT=<aarch64 ONNX Runtime SDK: include/ + lib/libonnxruntime.so>
#
# cpp/scripts/aarch64_check.sh does all of it (ONNX Runtime from PyPI's aarch64 wheel) and runs ctest under qemu.
# ctest runs the test executables through CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64 with the cross toolchain's
# libraries as its root); the `reference` step still runs the host's Python.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ACC_CROSS_PREFIX "/usr/aarch64-linux-gnu" CACHE PATH "Root of the aarch64 libc and libstdc++ (Debian's cross packages)")
find_program(ACC_CROSS_CXX NAMES aarch64-linux-gnu-g++ aarch64-linux-gnu-g++-12 aarch64-linux-gnu-g++-13 aarch64-linux-gnu-g++-14)
if(NOT ACC_CROSS_CXX)
  message(FATAL_ERROR "aarch64-linux-gnu.cmake: no aarch64-linux-gnu-g++; apt-get install g++-aarch64-linux-gnu")
endif()
string(REPLACE "g++" "gcc" _acc_cross_cc "${ACC_CROSS_CXX}")
set(CMAKE_CXX_COMPILER "${ACC_CROSS_CXX}")
set(CMAKE_C_COMPILER "${_acc_cross_cc}")

# Libraries, headers and CMake packages from the aarch64 tree only (a host x86-64 package must never be picked up);
# programs (python3, the code generators) from the host. Explicit SDK paths (ONNXRUNTIME_ROOT) are not re-rooted.
set(CMAKE_FIND_ROOT_PATH "${ACC_CROSS_PREFIX}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# qemu's -L root: where the emulated program's absolute paths are looked up first. qemu-user (7.2) passes the
# host's x86 /proc/cpuinfo through, and ONNX Runtime's cpuinfo library dereferences NULL on it (segfault at the
# first session): aarch64_check.sh makes a root with lib -> ${ACC_CROSS_PREFIX}/lib and proc/cpuinfo from
# qemu/aarch64-cpuinfo (two Cortex-A78AE cores, Jetson Orin's CPU) and passes it as ACC_QEMU_ROOT.
set(ACC_QEMU_ROOT "${ACC_CROSS_PREFIX}" CACHE PATH "qemu-aarch64 -L root (needs an aarch64 proc/cpuinfo for ONNX Runtime)")
find_program(ACC_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(ACC_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${ACC_QEMU_AARCH64};-L;${ACC_QEMU_ROOT}")
endif()
