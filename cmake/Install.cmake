# Installing kiln as a library: `cmake --install build --prefix P` puts the headers under P/include/kiln
# (repo-rooted, so "ir/Builder.h" resolves there), the static libraries under P/lib, the kiln CLI under
# P/bin and a CMake package under P/lib/cmake/kiln, so that a user's project can say find_package(kiln)
# and link kiln::ir, kiln::passes, kiln::runtime, kiln::compiler and kiln::models. Included from the
# top-level CMakeLists.txt after the targets are defined.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(KILN_LIBRARIES kiln_ir kiln_passes kiln_runtime kiln_compiler kiln_models)
foreach(lib IN LISTS KILN_LIBRARIES)
  string(REPLACE "kiln_" "" short ${lib})
  # Exported as kiln::<short>; the alias gives a project that adds kiln as a subdirectory the same names.
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${short})
  add_library(kiln::${short} ALIAS ${lib})
endforeach()

set(KILN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)

install(TARGETS ${KILN_LIBRARIES} EXPORT kilnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS kiln RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The public headers. The four LLVM-facing headers of compiler/ are internal to it (they include LLVM's
# headers, which a user need not have on the include path) and stay behind; no installed header includes them.
install(DIRECTORY ir passes compiler runtime models
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kiln
  FILES_MATCHING PATTERN "*.h" PATTERN "*.def"
  PATTERN "Jit.h" EXCLUDE PATTERN "KernelEmitter.h" EXCLUDE PATTERN "Lowering.h" EXCLUDE
  PATTERN "Transcendental.h" EXCLUDE)

install(EXPORT kilnTargets NAMESPACE kiln:: FILE kilnTargets.cmake DESTINATION ${KILN_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/kilnConfig.cmake.in
  ${CMAKE_BINARY_DIR}/kilnConfig.cmake INSTALL_DESTINATION ${KILN_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/kilnConfig.cmake ${CMAKE_BINARY_DIR}/kilnConfigVersion.cmake
  DESTINATION ${KILN_CMAKE_DIR})
