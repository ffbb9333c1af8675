################################################################################
#
# gen
#
################################################################################

# A build-time code generator: target packages with <PKG>_GEN = YES run it
# from their per-package host/bin. It finds its host libraries through an
# RPATH into $(HOST_DIR)/lib.
HOST_GEN_VERSION = 1.0
HOST_GEN_DEPENDENCIES = host-libhutil host-libhz

define HOST_GEN_BUILD_CMDS
	$(Q)cd $(@D) && $(HOSTCC) $(HOST_CFLAGS) -o gen gen.c \
		$(HOST_LDFLAGS) -lhutil -lhz
endef

define HOST_GEN_INSTALL_CMDS
	$(Q)install -D -m 0755 $(@D)/gen $(HOST_DIR)/bin/gen
endef

$(eval $(host-generic-package))
