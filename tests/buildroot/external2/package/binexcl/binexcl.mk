################################################################################
#
# binexcl: a build-machine binary in the target, excluded from the architecture check
#
################################################################################

BINEXCL_VERSION = 1.0
BINEXCL_SITE = $(PPDTEST2_SRC)/binexcl
BINEXCL_SITE_METHOD = local
BINEXCL_LICENSE = GPL-2.0+
BINEXCL_BIN_ARCH_EXCLUDE = /usr/lib/binexcl/host /usr/libexec/binexcl-other

define BINEXCL_BUILD_CMDS
	$(HOSTCC) -o $(@D)/hosttool $(@D)/tool.c
	$(TARGET_CC) $(TARGET_CFLAGS) -o $(@D)/targettool $(@D)/tool.c
endef
define BINEXCL_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/hosttool $(TARGET_DIR)/usr/lib/binexcl/host/hosttool
	$(INSTALL) -D -m 0755 $(@D)/hosttool $(TARGET_DIR)/usr/libexec/binexcl-other/with\ space
	$(INSTALL) -D -m 0755 $(@D)/targettool $(TARGET_DIR)/usr/bin/binexcl
endef
$(eval $(generic-package))
