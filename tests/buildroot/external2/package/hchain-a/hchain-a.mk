################################################################################
#
# host-hchain-a: a host-only package of the host tool chain (a -> b -> c)
#
################################################################################

HOST_HCHAIN_A_VERSION = 1.0
HOST_HCHAIN_A_SITE = $(PPDTEST2_SRC)/hchain
HOST_HCHAIN_A_SITE_METHOD = local
HOST_HCHAIN_A_LICENSE = GPL-2.0+
HOST_HCHAIN_A_DEPENDENCIES = 

define HOST_HCHAIN_A_BUILD_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) STAGE=a PREFIX=$(HOST_DIR)
endef
define HOST_HCHAIN_A_INSTALL_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) STAGE=a PREFIX=$(HOST_DIR) \
		SYSROOT=$(STAGING_DIR) install
endef
$(eval $(host-generic-package))
