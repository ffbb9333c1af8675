################################################################################
#
# modpkg: a post-install hook editing a dependency's file in place; users and permissions
#
################################################################################

MODPKG_VERSION = 1.0
MODPKG_SITE = $(PPDTEST2_SRC)/modpkg
MODPKG_SITE_METHOD = local
MODPKG_LICENSE = GPL-2.0+
MODPKG_DEPENDENCIES = basefiles

define MODPKG_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/mod.txt $(TARGET_DIR)/usr/share/modpkg/mod.txt
	$(INSTALL) -D -m 0755 $(@D)/mod.txt $(TARGET_DIR)/usr/libexec/modpkg/secret
endef
# Appends to basefiles' /etc/base.conf in this package's tree: a write
# through the inode the tree shares with basefiles' tree.
define MODPKG_EDIT_BASE_CONF
	echo "modpkg = $(MODPKG_VERSION)" >> $(TARGET_DIR)/etc/base.conf
endef
MODPKG_POST_INSTALL_TARGET_HOOKS += MODPKG_EDIT_BASE_CONF

define MODPKG_USERS
	modsvc -1 modsvc -1 * /var/lib/modsvc - - modpkg service
endef
define MODPKG_PERMISSIONS
	/usr/libexec/modpkg/secret f 4750 modsvc modsvc - - - - -
endef
$(eval $(generic-package))
