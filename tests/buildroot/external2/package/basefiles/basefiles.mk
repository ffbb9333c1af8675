################################################################################
#
# basefiles: files other packages overwrite or edit
#
################################################################################

BASEFILES_VERSION = 1.0
BASEFILES_SITE = $(PPDTEST2_SRC)/basefiles
BASEFILES_SITE_METHOD = local
BASEFILES_LICENSE = GPL-2.0+

define BASEFILES_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/base.conf $(TARGET_DIR)/etc/base.conf
	$(INSTALL) -D -m 0644 $(@D)/data.txt $(TARGET_DIR)/usr/share/base/data.txt
	$(INSTALL) -D -m 0644 $(@D)/data.txt $(TARGET_DIR)/usr/share/base/kept.txt
endef
$(eval $(generic-package))
