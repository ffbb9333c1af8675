################################################################################
#
# hutil
#
################################################################################

HOST_HUTIL_VERSION = 1.0
HOST_HUTIL_SITE = $(PPDTEST_SRC)/hutil
HOST_HUTIL_SITE_METHOD = local
HOST_HUTIL_LICENSE = GPL-2.0+

define HOST_HUTIL_BUILD_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS)
endef
define HOST_HUTIL_INSTALL_CMDS
	$(HOST_MAKE_ENV) $(MAKE) -C $(@D) $(HOST_CONFIGURE_OPTS) \
		PREFIX=$(HOST_DIR) install
endef
$(eval $(host-generic-package))
