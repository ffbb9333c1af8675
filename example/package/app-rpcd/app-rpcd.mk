################################################################################
#
# app-rpcd
#
################################################################################

APP_RPCD_VERSION = 1.0
APP_RPCD_DEPENDENCIES = librpc libplugin
APP_RPCD_GEN = YES

$(eval $(capp-package))
