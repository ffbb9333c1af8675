################################################################################
#
# libhz
#
################################################################################

# A second host library, used by host-gen.
HOST_LIBHZ_VERSION = 0.2

define HOST_LIBHZ_BUILD_CMDS
	$(Q)cd $(@D) && $(HOSTCC) $(HOST_CFLAGS) -fPIC -shared \
		-Wl,-soname,libhz.so.0 -o libhz.so.0.2 hz.c
endef

define HOST_LIBHZ_INSTALL_CMDS
	$(Q)install -D -m 0755 $(@D)/libhz.so.0.2 $(HOST_DIR)/lib/libhz.so.0.2
	$(Q)ln -snf libhz.so.0.2 $(HOST_DIR)/lib/libhz.so.0
	$(Q)ln -snf libhz.so.0 $(HOST_DIR)/lib/libhz.so
	$(Q)install -D -m 0644 $(@D)/hz.h $(HOST_DIR)/include/hz.h
	$(Q)$(EXAMPLE_SUPPORT)/install-devfiles host $(HOST_DIR) libhz $(HOST_LIBHZ_VERSION)
endef

$(eval $(host-generic-package))
