################################################################################
#
# libhutil
#
################################################################################

# A host library (the host tools' helpers), with an absolute-prefix .pc file
# in host/lib/pkgconfig, like the host libraries of a real build.
HOST_LIBHUTIL_VERSION = 1.4

define HOST_LIBHUTIL_BUILD_CMDS
	$(Q)cd $(@D) && $(HOSTCC) $(HOST_CFLAGS) -fPIC -shared \
		-Wl,-soname,libhutil.so.1 -o libhutil.so.1.4 hutil.c
endef

define HOST_LIBHUTIL_INSTALL_CMDS
	$(Q)install -D -m 0755 $(@D)/libhutil.so.1.4 $(HOST_DIR)/lib/libhutil.so.1.4
	$(Q)ln -snf libhutil.so.1.4 $(HOST_DIR)/lib/libhutil.so.1
	$(Q)ln -snf libhutil.so.1 $(HOST_DIR)/lib/libhutil.so
	$(Q)install -D -m 0644 $(@D)/hutil.h $(HOST_DIR)/include/hutil.h
	$(Q)$(EXAMPLE_SUPPORT)/install-devfiles host $(HOST_DIR) libhutil $(HOST_LIBHUTIL_VERSION)
endef

$(eval $(host-generic-package))
