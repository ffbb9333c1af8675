################################################################################
#
# cmlib: a cmake package (the machine's cmake, when Buildroot accepts it)
#
################################################################################

CMLIB_VERSION = 1.0
CMLIB_SITE = $(PPDTEST2_SRC)/cmlib
CMLIB_SITE_METHOD = local
CMLIB_LICENSE = GPL-2.0+
CMLIB_INSTALL_STAGING = YES
CMLIB_DEPENDENCIES = autolib
$(eval $(cmake-package))
