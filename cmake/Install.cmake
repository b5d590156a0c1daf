# `cmake --install BUILD [--prefix P]` (docs/install.md). GNUInstallDirs paths below the prefix:
#   sbin/iommuprof                                   the command (iommuprof(8))
#   share/man/man8/iommuprof.8.gz                    generated from the command line (CMakeLists.txt)
#   share/bash-completion/completions/iommuprof      generated from the command line
#   share/doc/iommuprof/                             README.md, docs/*.md, copyright, changelog.gz
#   share/iommuprof/prometheus/iommuprof.rules.yml   when dist/prometheus has it
# and, decided at install time (cmake/install_system.cmake.in): the systemd units in
# dist/systemd and dist/etc/iommuprof/check.conf (when there) under /etc for prefix /usr,
# PREFIX/etc otherwise. The benchmark helpers and the tests are not installed.
include(GNUInstallDirs)

install(TARGETS iommuprof RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/iommuprof.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/iommuprof.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME iommuprof)

file(GLOB IOMMUPROF_DOCS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/*.md)
install(FILES README.md dist/debian/copyright ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${IOMMUPROF_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# Files other work adds: globbed, so that adding one re-runs the configuration.
file(GLOB IOMMUPROF_PROMETHEUS_RULES CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/dist/prometheus/iommuprof.rules.yml)
if(IOMMUPROF_PROMETHEUS_RULES)
  install(FILES ${IOMMUPROF_PROMETHEUS_RULES} DESTINATION ${CMAKE_INSTALL_DATADIR}/iommuprof/prometheus)
endif()
file(GLOB IOMMUPROF_CHECK_CONF CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/dist/etc/iommuprof/check.conf)
file(GLOB IOMMUPROF_UNITS CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/dist/systemd/*.service ${CMAKE_CURRENT_SOURCE_DIR}/dist/systemd/*.timer)

# systemd's unit directory for prefix /usr (/lib/systemd/system on Debian 12).
set(IOMMUPROF_SYSTEMD_UNITDIR "" CACHE PATH
    "systemd system unit directory for prefix /usr (default: pkg-config systemd systemdsystemunitdir)")
if(NOT IOMMUPROF_SYSTEMD_UNITDIR)
  pkg_get_variable(IOMMUPROF_SYSTEMD_UNITDIR systemd systemdsystemunitdir)
  if(NOT IOMMUPROF_SYSTEMD_UNITDIR)
    set(IOMMUPROF_SYSTEMD_UNITDIR /lib/systemd/system)
    message(STATUS "pkg-config knows no systemd: units for prefix /usr go to ${IOMMUPROF_SYSTEMD_UNITDIR}")
  endif()
endif()
configure_file(cmake/install_system.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/install_system.cmake @ONLY)
install(SCRIPT ${CMAKE_CURRENT_BINARY_DIR}/install_system.cmake)
