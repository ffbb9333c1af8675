################################################################################
#
# libbeta
#
################################################################################

LIBBETA_VERSION = 1.0
LIBBETA_DEPENDENCIES = libalpha
LIBBETA_INSTALL_STAGING = YES
$(eval $(call ppdtest-target-make,LIBBETA,libbeta))
$(eval $(generic-package))
