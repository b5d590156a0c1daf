# One library (or the executable, for cli) per stage of user/, with declared links.
#
#   iommuprof_stage(NAME [EXECUTABLE TARGET] HEADERS h.hpp... LINKS lib...)
#
# builds user/NAME/**/*.cpp into iommuprof_NAME (or TARGET) and gives it, as its public
# include directory, <build>/stage-include/NAME, which holds symbolic links to just the
# headers of include/iommuprof/ that this stage owns. A stage therefore sees its own
# headers and, through LINKS, those of the stages below it, and nothing else: an
# include against the direction fails to compile. iommuprof_stage_check() fails the
# configuration when a header of include/iommuprof/ belongs to no stage or to two.
set(IOMMUPROF_STAGE_HEADERS "" CACHE INTERNAL "")

function(iommuprof_stage name)
  cmake_parse_arguments(S "" "EXECUTABLE" "HEADERS;LINKS" ${ARGN})
  set(inc ${CMAKE_BINARY_DIR}/stage-include/${name})
  file(REMOVE_RECURSE ${inc})
  file(MAKE_DIRECTORY ${inc}/iommuprof)
  set(owned ${IOMMUPROF_STAGE_HEADERS})
  foreach(h ${S_HEADERS})
    set(src ${PROJECT_SOURCE_DIR}/include/iommuprof/${h})
    if(NOT EXISTS ${src})
      message(FATAL_ERROR "stage ${name}: no header include/iommuprof/${h}")
    endif()
    if(h IN_LIST owned)
      message(FATAL_ERROR "stage ${name}: include/iommuprof/${h} already belongs to another stage")
    endif()
    list(APPEND owned ${h})
    file(CREATE_LINK ${src} ${inc}/iommuprof/${h} SYMBOLIC)
  endforeach()
  set(IOMMUPROF_STAGE_HEADERS "${owned}" CACHE INTERNAL "")
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/user/${name}/*.cpp)
  if(S_EXECUTABLE)
    add_executable(${S_EXECUTABLE} ${sources})
    target_include_directories(${S_EXECUTABLE} PRIVATE ${inc})
    target_link_libraries(${S_EXECUTABLE} PRIVATE ${S_LINKS})
  else()
    add_library(iommuprof_${name} STATIC ${sources})
    target_include_directories(iommuprof_${name} PUBLIC ${inc})
    target_link_libraries(iommuprof_${name} PUBLIC ${S_LINKS})
  endif()
endfunction()

function(iommuprof_stage_check)
  file(GLOB all RELATIVE ${PROJECT_SOURCE_DIR}/include/iommuprof CONFIGURE_DEPENDS
       ${PROJECT_SOURCE_DIR}/include/iommuprof/*.hpp)
  foreach(h ${all})
    if(NOT h IN_LIST IOMMUPROF_STAGE_HEADERS)
      message(FATAL_ERROR "include/iommuprof/${h} belongs to no stage (CMakeLists.txt, iommuprof_stage)")
    endif()
  endforeach()
endfunction()
