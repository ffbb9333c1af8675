################################################################################
#
# pkgconf
#
################################################################################

# pkg-config for the target packages: pkgconf links host-libhutil with an
# RPATH into $(HOST_DIR)/lib, and the pkg-config wrapper script finds the
# sysroot relative to its own location (Buildroot's host-pkgconf does both).
HOST_PKGCONF_VERSION = 1.0
HOST_PKGCONF_DEPENDENCIES = host-libhutil

define HOST_PKGCONF_BUILD_CMDS
	$(Q)cd $(@D) && $(HOSTCC) $(HOST_CFLAGS) -o pkgconf pkgconf.c \
		$(HOST_LDFLAGS) -lhutil
	$(Q)sed 's:@STAGING_SUBDIR@:$(STAGING_SUBDIR):' $(@D)/pkg-config.in \
		>$(@D)/pkg-config
endef

define HOST_PKGCONF_INSTALL_CMDS
	$(Q)install -D -m 0755 $(@D)/pkgconf $(HOST_DIR)/bin/pkgconf
	$(Q)install -D -m 0755 $(@D)/pkg-config $(HOST_DIR)/bin/pkg-config
endef

$(eval $(host-generic-package))
