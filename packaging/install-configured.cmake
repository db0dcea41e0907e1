# Runs at install time (install(SCRIPT)), when CMAKE_INSTALL_PREFIX is the prefix
# being installed to: writes the demo config and the systemd unit for it.
set(WARDEN_PREFIX "${CMAKE_INSTALL_PREFIX}")
if(WARDEN_PREFIX STREQUAL "/usr" OR WARDEN_PREFIX STREQUAL "/")
  set(WARDEN_SYSCONFDIR /etc)
else()
  set(WARDEN_SYSCONFDIR "${WARDEN_PREFIX}/etc")
endif()
set(WARDEN_BINDIR "${WARDEN_PREFIX}/${WARDEN_INSTALL_BINDIR}")
set(WARDEN_POLICYDIR "${WARDEN_PREFIX}/share/warden/policies")
foreach(f warden.json warden.service)
  configure_file("${WARDEN_SOURCE_DIR}/packaging/${f}.in" "${WARDEN_BINARY_DIR}/packaging/${f}" @ONLY)
endforeach()
file(INSTALL "${WARDEN_BINARY_DIR}/packaging/warden.json" DESTINATION "${WARDEN_SYSCONFDIR}/warden"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${WARDEN_BINARY_DIR}/packaging/warden.service" DESTINATION "${WARDEN_PREFIX}/lib/systemd/system"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
