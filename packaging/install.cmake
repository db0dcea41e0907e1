# What `cmake --install build --prefix P` installs, and the Debian package of it
# (`cpack -G DEB` in the build directory). The prefix can be moved as a whole:
# paths.c finds P/share/warden/lua from P/bin/warden at run time.
include(GNUInstallDirs)

install(TARGETS warden warden-demo-registry RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# share/warden/ beside bin/ is where paths.c looks: a fixed layout, not a GNUInstallDirs choice.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/lua/ DESTINATION share/warden/lua FILES_MATCHING PATTERN "*.lua")
file(GLOB WARDEN_EXAMPLES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/policies/*.json ${CMAKE_SOURCE_DIR}/policies/*.lua)
install(FILES ${WARDEN_EXAMPLES} DESTINATION share/warden/policies)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/warden.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/LICENSE ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The demo config and the systemd unit name absolute paths: they are written for
# the prefix given at install time (--prefix P, or /usr in the package), not the
# one of the configure step.
install(CODE "set(WARDEN_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")\nset(WARDEN_BINARY_DIR \"${CMAKE_BINARY_DIR}\")\nset(WARDEN_INSTALL_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/packaging/install-configured.cmake)

set(CPACK_PACKAGE_NAME warden)
set(CPACK_PACKAGE_VENDOR "warden")
set(CPACK_PACKAGE_CONTACT "warden maintainers <warden@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "policy gateway for the Model Context Protocol")
set(CPACK_PACKAGE_DESCRIPTION "Warden sits between MCP clients (agents) and MCP servers and decides\nwhat the agents may do: hide a tool, deny it for some arguments, rate-limit it,\nor write the rule in Lua. Policies reload without dropping connections.")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# DESTDIR staging, so that the install-time prefix is /usr (what the demo config
# and the unit name) and /etc/warden lands in the package, not on this machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the libraries the binaries link (libevent, Lua 5.4, cJSON), by dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles
  ${CMAKE_SOURCE_DIR}/packaging/deb/postinst ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
  ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
