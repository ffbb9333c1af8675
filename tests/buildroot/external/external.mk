################################################################################
#
# The test's packages. All of them are local (<PKG>_SITE_METHOD = local), so
# the build needs no download.
#
# PPDTEST_DROPIN: the path of ppd's mk/buildroot.mk, to build with ppd in
# place of Buildroot's per-package directory macros; empty (the default)
# for Buildroot's own. The same tree serves both builds.
#
################################################################################

ifneq ($(PPDTEST_DROPIN),)
include $(PPDTEST_DROPIN)
endif

# The machine's pkg-config, pointed at the running package's per-package
# staging or host directory (host-pkgconf would need a download).
PPDTEST_TARGET_PKG_CONFIG = PKG_CONFIG_LIBDIR=$(STAGING_DIR)/usr/lib/pkgconfig \
	PKG_CONFIG_SYSROOT_DIR=$(STAGING_DIR) /usr/bin/pkg-config
PPDTEST_HOST_PKG_CONFIG = PKG_CONFIG_LIBDIR=$(HOST_DIR)/lib/pkgconfig \
	PKG_CONFIG_SYSROOT_DIR=/ /usr/bin/pkg-config

PPDTEST_SRC = $(BR2_EXTERNAL_PPDTEST_PATH)/src

# The commands of a target package built by the Makefile in its source:
# 'make' then 'make install DESTDIR=...' into staging and/or target.
# $1: the package's upper-case name
define ppdtest-target-make
$(1)_SITE_METHOD = local
$(1)_SITE ?= $(PPDTEST_SRC)/$(2)
$(1)_LICENSE = GPL-2.0+
define $(1)_BUILD_CMDS
	$$(TARGET_MAKE_ENV) $$(MAKE) -C $$(@D) $$(TARGET_CONFIGURE_OPTS) \
		PKG_CONFIG="$$(PPDTEST_TARGET_PKG_CONFIG)" $$($(1)_MAKE_OPTS)
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

# A generated library: gen-NN builds libgenNN from src/genlib, using the
# libraries of the packages it depends on.
# $1: upper-case name (GEN_07), $2: lower-case name, $3: dependencies
define ppdtest-gen
$(1)_VERSION = 1.0
$(1)_INSTALL_STAGING = YES
$(1)_DEPENDENCIES = $(3)
$(1)_MAKE_OPTS = NAME=$(subst -,,$(2)) DEPS="$(subst -,,$(filter gen-%,$(3)))" \
	ALPHA=$(if $(filter libalpha,$(3)),y) SYSROOT=$$(STAGING_DIR)
$(call ppdtest-target-make,$(1),genlib)
endef

include $(sort $(wildcard $(BR2_EXTERNAL_PPDTEST_PATH)/package/*/*.mk))
