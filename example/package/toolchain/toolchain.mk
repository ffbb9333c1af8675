################################################################################
#
# toolchain
#
################################################################################

# A toolchain-like base package: a sysroot of $(EXAMPLE_TOOLCHAIN_FILES)
# generated headers (with symlinks and a hard-link group, as real sysroots
# have), target run-time data, and the compiler wrapper every target package
# builds with. It is in every target package's per-package directory, which
# is what makes preparing those directories expensive.
TOOLCHAIN_VERSION = 1.0-$(EXAMPLE_TOOLCHAIN_FILES)
TOOLCHAIN_ADD_TOOLCHAIN_DEPENDENCY = NO
TOOLCHAIN_INSTALL_STAGING = YES
TOOLCHAIN_GENERATE = toolchain $(EXAMPLE_TOOLCHAIN_FILES)

define TOOLCHAIN_BUILD_CMDS
	$(Q)sed 's:@STAGING_SUBDIR@:$(STAGING_SUBDIR):' $(TOOLCHAIN_PKGDIR)/gcc-wrapper.in \
		>$(@D)/gcc-wrapper
endef

# Installed files replace, never overwrite, what is there (--remove-destination,
# install): a reinstall must not write through hard links into the
# per-package directories of the packages built on this one.
define TOOLCHAIN_INSTALL_STAGING_CMDS
	$(Q)mkdir -p $(STAGING_DIR)
	$(Q)cp -a --remove-destination $(@D)/sysroot/. $(STAGING_DIR)/
	$(Q)install -D -m 0755 $(@D)/gcc-wrapper $(HOST_DIR)/bin/$(GNU_TARGET_NAME)-gcc
	$(Q)ln -snf $(GNU_TARGET_NAME)-gcc $(HOST_DIR)/bin/$(GNU_TARGET_NAME)-cc
endef

define TOOLCHAIN_INSTALL_TARGET_CMDS
	$(Q)cp -a --remove-destination $(@D)/target/. $(TARGET_DIR)/
endef

$(eval $(generic-package))
