# bpf_object(TARGET SOURCE [NAME STEM] [DEFINES D...]): compile SOURCE (a .bpf.c)
# with clang for the BPF target against the checked-in vmlinux.h, generate a
# libbpf skeleton with bpftool, and expose both through an INTERFACE library
# TARGET whose include directory holds <name>.skel.h. NAME: another build of
# the same source (STEM.bpf.o, STEM.skel.h, skeleton STEM_bpf), with DEFINES.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
find_program(LLVM_STRIP NAMES llvm-strip-14 llvm-strip)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture ${CMAKE_SYSTEM_PROCESSOR}")
endif()
set(VMLINUX_DIR ${CMAKE_CURRENT_SOURCE_DIR}/vmlinux/${BPF_ARCH})

function(bpf_object target source)
  cmake_parse_arguments(B "" "NAME" "DEFINES" ${ARGN})
  get_filename_component(stem ${source} NAME_WE)  # iommuprof
  if(B_NAME)
    set(stem ${B_NAME})
  endif()
  set(defs "")
  foreach(d ${B_DEFINES})
    list(APPEND defs -D${d})
  endforeach()
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${outdir}/${stem}.bpf.o)
  set(skel ${outdir}/${stem}.skel.h)
  get_filename_component(srcdir ${source} DIRECTORY)
  file(GLOB headers ${srcdir}/*.h)
  add_custom_command(OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${outdir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${BPF_ARCH} ${defs} -Wall -Werror
            -I${VMLINUX_DIR} -I${srcdir} -c ${source} -o ${obj}
    DEPENDS ${source} ${headers} ${VMLINUX_DIR}/vmlinux.h
    COMMENT "BPF ${stem}.bpf.c")
  add_custom_command(OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${stem}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${stem}.skel.h")
  add_custom_target(${target}_gen DEPENDS ${skel})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${outdir})
endfunction()
