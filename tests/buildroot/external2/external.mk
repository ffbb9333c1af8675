################################################################################
#
# The second test package set. All packages are local
# (<PKG>_SITE_METHOD = local): the build needs no download.
#
# PPDTEST_DROPIN: the path of ppd's mk/buildroot.mk, to build with ppd in
# place of Buildroot's per-package directory macros; empty (the default)
# for Buildroot's own.
#
################################################################################

ifneq ($(PPDTEST_DROPIN),)
include $(PPDTEST_DROPIN)
endif

PPDTEST2_SRC = $(BR2_EXTERNAL_PPDTEST2_PATH)/src

# A target package built by the Makefile in its source: 'make', then
# 'make install-staging' / 'make install-target' with DESTDIR.
# $1: the package's upper-case name, $2: its source directory
define ppdtest2-target-make
$(1)_VERSION = 1.0
$(1)_SITE_METHOD = local
$(1)_SITE = $(PPDTEST2_SRC)/$(2)
$(1)_LICENSE = GPL-2.0+
define $(1)_BUILD_CMDS
	$$(TARGET_MAKE_ENV) $$(MAKE) -C $$(@D) $$(TARGET_CONFIGURE_OPTS) \
		SYSROOT=$$(STAGING_DIR) $$($(1)_MAKE_OPTS)
endef
define $(1)_INSTALL_STAGING_CMDS
	$$(TARGET_MAKE_ENV) $$(MAKE) -C $$(@D) $$(TARGET_CONFIGURE_OPTS) \
		$$($(1)_MAKE_OPTS) DESTDIR=$$(STAGING_DIR) install-staging
endef
define $(1)_INSTALL_TARGET_CMDS
	$$(TARGET_MAKE_ENV) $$(MAKE) -C $$(@D) $$(TARGET_CONFIGURE_OPTS) \
		$$($(1)_MAKE_OPTS) DESTDIR=$$(TARGET_DIR) install-target
endef
endef

include $(sort $(wildcard $(BR2_EXTERNAL_PPDTEST2_PATH)/package/*/*.mk))
