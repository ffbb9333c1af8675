################################################################################
#
# libalpha
#
################################################################################

LIBALPHA_VERSION = 1.0
LIBALPHA_INSTALL_STAGING = YES
LIBALPHA_CONFIG_SCRIPTS = alpha-config
$(eval $(call ppdtest-target-make,LIBALPHA,libalpha))
$(eval $(generic-package))
