################################################################################
#
# app-gamma
#
################################################################################

APP_GAMMA_VERSION = 1.0
APP_GAMMA_DEPENDENCIES = libgamma
APP_GAMMA_MAKE_OPTS = SYSROOT=$(STAGING_DIR)
$(eval $(call ppdtest-target-make,APP_GAMMA,app-gamma))
$(eval $(generic-package))
