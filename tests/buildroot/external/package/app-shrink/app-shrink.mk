################################################################################
#
# app-shrink
#
################################################################################

APP_SHRINK_VERSION = 1.0
APP_SHRINK_DEPENDENCIES = libshrink
APP_SHRINK_MAKE_OPTS = SYSROOT=$(STAGING_DIR)
$(eval $(call ppdtest-target-make,APP_SHRINK,app-shrink))
$(eval $(generic-package))
