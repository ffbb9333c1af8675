################################################################################
#
# hgen
#
################################################################################

HOST_HGEN_VERSION = 1.0
HOST_HGEN_SITE = $(PPDTEST_SRC)/hgen
HOST_HGEN_SITE_METHOD = local
HOST_HGEN_LICENSE = GPL-2.0+
HOST_HGEN_DEPENDENCIES = host-hutil

define HOST_HGEN_BUILD_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) \
		PKG_CONFIG="$(PPDTEST_HOST_PKG_CONFIG)" PREFIX=$(HOST_DIR)
endef
define HOST_HGEN_INSTALL_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) \
		PREFIX=$(HOST_DIR) install
endef
$(eval $(host-generic-package))
