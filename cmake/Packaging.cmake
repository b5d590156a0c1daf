# `cpack -G DEB` in the build directory: iommuprof_<version>_<arch>.deb (docs/install.md).
# Installs like `cmake --install --prefix /usr` (cmake/Install.cmake); dependencies from
# dpkg-shlibdeps; maintainer scripts from dist/debian (systemctl daemon-reload, no unit
# enabled); /etc/iommuprof/check.conf a conffile when the tree has it.
set(IOMMUPROF_MAINTAINER "iommuprof maintainers <maintainers@users.noreply.r-seed-de704bb1.example>"
    CACHE STRING "Maintainer field of the .deb")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iommuprof)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${IOMMUPROF_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${IOMMUPROF_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus-node-exporter")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF profiler for the Linux IOMMU and DMA-mapping paths")
# The first line of the control field is the summary above; this is the long description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "iommuprof attaches to the kernel functions every DMA mapping goes through
(the DMA API, dma-iommu, iommu_map/unmap, the IOVA allocator, IOTLB
invalidation, the flush queue, VFIO, swiotlb, IOMMU faults) and measures, per
device and CPU, how often they run, how long they take and what share of the
CPUs they use. Combined with the host's IOMMU setup, it tells whether iommu=pt
is worth trying, and after a reboot whether it paid off.
.
Includes systemd units, none enabled: a boot-time check and host facts and
live counters for node_exporter's textfile collector.")

# Maintainer scripts, with the unit names; the conffile list.
set(IOMMUPROF_UNIT_NAMES)
foreach(u IN LISTS IOMMUPROF_UNITS)
  get_filename_component(n ${u} NAME)
  string(APPEND IOMMUPROF_UNIT_NAMES " ${n}")
endforeach()
string(STRIP "${IOMMUPROF_UNIT_NAMES}" IOMMUPROF_UNIT_NAMES)
set(IOMMUPROF_DEB_CONTROL)
foreach(s postinst prerm postrm)
  configure_file(dist/debian/${s}.in ${CMAKE_CURRENT_BINARY_DIR}/debian/${s} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
  list(APPEND IOMMUPROF_DEB_CONTROL ${CMAKE_CURRENT_BINARY_DIR}/debian/${s})
endforeach()
file(REMOVE ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles)
if(IOMMUPROF_CHECK_CONF)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles "/etc/iommuprof/check.conf\n")
  list(APPEND IOMMUPROF_DEB_CONTROL ${CMAKE_CURRENT_BINARY_DIR}/debian/conffiles)
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${IOMMUPROF_DEB_CONTROL})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
