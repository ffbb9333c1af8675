################################################################################
#
# app-fetch
#
################################################################################

APP_FETCH_VERSION = 1.0
APP_FETCH_DEPENDENCIES = libhttp libtls
APP_FETCH_GEN = YES

$(eval $(capp-package))
