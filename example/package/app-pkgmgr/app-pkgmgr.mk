################################################################################
#
# app-pkgmgr
#
################################################################################

APP_PKGMGR_VERSION = 1.0
APP_PKGMGR_DEPENDENCIES = libpkg libcloud
APP_PKGMGR_GEN = YES

$(eval $(capp-package))
