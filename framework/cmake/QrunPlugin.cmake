# qrun_add_plugin(<id> <source>... [LIBRARIES <lib>...])
# Builds libqrun_<id>.so against qrun's public headers, with hidden visibility so plugins cannot
# shadow each other's symbols, into the folder where qrun looks for plugins. Used in this tree and,
# through find_package(qrun), out of tree.
function(qrun_add_plugin id)
  cmake_parse_arguments(ARG "" "" "LIBRARIES" ${ARGN})
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
    VISIBILITY_INLINES_HIDDEN ON)
  if(DEFINED QRUN_BUILD_PLUGIN_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${QRUN_BUILD_PLUGIN_DIR}")
  endif()
  if(DEFINED QRUN_INSTALL_PLUGIN_DIR AND NOT ARG_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION "${QRUN_INSTALL_PLUGIN_DIR}")
  endif()
endfunction()
