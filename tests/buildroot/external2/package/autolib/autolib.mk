################################################################################
#
# autolib: an autotools package with a shipped configure script (local
# source, no autoreconf) that runs a host tool at build time
#
################################################################################

AUTOLIB_VERSION = 1.0
AUTOLIB_SITE = $(PPDTEST2_SRC)/autolib
AUTOLIB_SITE_METHOD = local
AUTOLIB_LICENSE = GPL-2.0+
AUTOLIB_INSTALL_STAGING = YES
AUTOLIB_DEPENDENCIES = host-hchain-b
AUTOLIB_CONFIG_SCRIPTS = auto-config
$(eval $(autotools-package))
