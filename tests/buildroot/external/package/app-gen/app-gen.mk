################################################################################
#
# app-gen
#
################################################################################

APP_GEN_VERSION = 1.0
APP_GEN_DEPENDENCIES = host-hgen libbeta
APP_GEN_MAKE_OPTS = HGEN=$(HOST_DIR)/bin/hgen
$(eval $(call ppdtest-target-make,APP_GEN,app-gen))
$(eval $(generic-package))
