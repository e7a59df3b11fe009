# qrun_add_plugin(<id> <source>... [LIBRARIES <lib>...] [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
# Builds libqrun_<id>.so against qrun's public headers, with hidden visibility so plugins cannot
# shadow each other's symbols. Used in this tree and, through find_package(qrun), out of tree.
#   In this tree: into QRUN_BUILD_PLUGIN_DIR (where the build's qrun looks without flags),
#                 installed into QRUN_INSTALL_PLUGIN_DIR (<prefix>/lib/qrun/plugins).
#   Out of tree:  into the plugin author's build folder (CMAKE_BINARY_DIR; run qrun with
#                 --plugin-path <that folder>), installed into <prefix>/lib/qrun/plugins.
#   OUTPUT_DIRECTORY overrides the folder; NO_INSTALL skips the install rule (test-only plugins).
function(qrun_add_plugin id)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "LIBRARIES" ${ARGN})
  set(target qrun_${id})
  add_library(${target} MODULE ${ARG_UNPARSED_ARGUMENTS})
  if(TARGET qrun::core)
    target_link_libraries(${target} PRIVATE qrun::core ${ARG_LIBRARIES})
  else()
    target_link_libraries(${target} PRIVATE qrun_core ${ARG_LIBRARIES})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "qrun_${id}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH_USE_LINK_PATH ON)
  if(ARG_OUTPUT_DIRECTORY)
    set(_dir "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED QRUN_BUILD_PLUGIN_DIR)
    set(_dir "${QRUN_BUILD_PLUGIN_DIR}")
  else()
    set(_dir "${CMAKE_BINARY_DIR}")
  endif()
  set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${_dir}")
  if(NOT ARG_NO_INSTALL)
    if(DEFINED QRUN_INSTALL_PLUGIN_DIR)
      set(_install_dir "${QRUN_INSTALL_PLUGIN_DIR}")
    else()
      include(GNUInstallDirs)
      set(_install_dir "${CMAKE_INSTALL_LIBDIR}/qrun/plugins")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${_install_dir}" COMPONENT plugins)
  endif()
endfunction()
