################################################################################
#
# app-wide
#
################################################################################

APP_WIDE_VERSION = 1.0
APP_WIDE_DEPENDENCIES = wide
APP_WIDE_MAKE_OPTS = STAGING=$(STAGING_DIR)
$(eval $(call ppdtest-target-make,APP_WIDE,app-wide))
$(eval $(generic-package))
