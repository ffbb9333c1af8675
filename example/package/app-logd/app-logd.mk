################################################################################
#
# app-logd
#
################################################################################

APP_LOGD_VERSION = 1.0
APP_LOGD_DEPENDENCIES = liblog libcfg
APP_LOGD_GEN = YES

$(eval $(capp-package))
