################################################################################
#
# host-hchain-c: a host-only package of the host tool chain (a -> b -> c)
#
################################################################################

HOST_HCHAIN_C_VERSION = 1.0
HOST_HCHAIN_C_SITE = $(PPDTEST2_SRC)/hchain
HOST_HCHAIN_C_SITE_METHOD = local
HOST_HCHAIN_C_LICENSE = GPL-2.0+
HOST_HCHAIN_C_DEPENDENCIES = host-hchain-b

define HOST_HCHAIN_C_BUILD_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) STAGE=c PREFIX=$(HOST_DIR)
endef
define HOST_HCHAIN_C_INSTALL_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) STAGE=c PREFIX=$(HOST_DIR) \
		SYSROOT=$(STAGING_DIR) install
endef
$(eval $(host-generic-package))
