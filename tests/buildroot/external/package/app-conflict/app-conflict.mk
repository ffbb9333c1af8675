################################################################################
#
# app-conflict
#
################################################################################

APP_CONFLICT_VERSION = 1.0
APP_CONFLICT_DEPENDENCIES = conflict-a conflict-b
$(eval $(call ppdtest-target-make,APP_CONFLICT,app-conflict))
$(eval $(generic-package))
