################################################################################
#
# host-hchain-b: a host-only package of the host tool chain (a -> b -> c)
#
################################################################################

HOST_HCHAIN_B_VERSION = 1.0
HOST_HCHAIN_B_SITE = $(PPDTEST2_SRC)/hchain
HOST_HCHAIN_B_SITE_METHOD = local
HOST_HCHAIN_B_LICENSE = GPL-2.0+
HOST_HCHAIN_B_DEPENDENCIES = host-hchain-a

define HOST_HCHAIN_B_BUILD_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) STAGE=b PREFIX=$(HOST_DIR)
endef
define HOST_HCHAIN_B_INSTALL_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) STAGE=b PREFIX=$(HOST_DIR) \
		SYSROOT=$(STAGING_DIR) install
endef
$(eval $(host-generic-package))
