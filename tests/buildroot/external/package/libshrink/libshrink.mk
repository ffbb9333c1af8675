################################################################################
#
# libshrink
#
################################################################################

LIBSHRINK_VERSION = 1.0
LIBSHRINK_INSTALL_STAGING = YES
$(eval $(call ppdtest-target-make,LIBSHRINK,libshrink))
$(eval $(generic-package))
