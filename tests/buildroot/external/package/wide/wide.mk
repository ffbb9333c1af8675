################################################################################
#
# wide
#
################################################################################

WIDE_VERSION = 1.0
WIDE_INSTALL_STAGING = YES
$(eval $(call ppdtest-target-make,WIDE,wide))
$(eval $(generic-package))
