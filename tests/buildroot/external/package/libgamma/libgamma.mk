################################################################################
#
# libgamma
#
################################################################################

LIBGAMMA_VERSION = 1.0
LIBGAMMA_INSTALL_STAGING = YES
LIBGAMMA_BIN_ARCH_EXCLUDE = /usr/share/gamma-none
$(eval $(call ppdtest-target-make,LIBGAMMA,libgamma))
$(eval $(generic-package))
