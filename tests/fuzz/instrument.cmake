# Included by the top-level CMakeLists.txt before any target when
# DUOCL_FUZZ is on. With clang this build is the fuzz build: everything is
# compiled with libFuzzer's coverage instrumentation, AddressSanitizer and
# UndefinedBehaviorSanitizer (every report aborts), so a loader's bug is a
# crash libFuzzer keeps. With another compiler nothing changes here:
# tests/fuzz/CMakeLists.txt builds the targets in a clang sub-build.
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(DUOCL_FUZZ_INSTRUMENTED ON)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()
