################################################################################
#
# overwriter: installs a file its dependency basefiles installs too
#
################################################################################

OVERWRITER_VERSION = 1.0
OVERWRITER_SITE = $(PPDTEST2_SRC)/overwriter
OVERWRITER_SITE_METHOD = local
OVERWRITER_LICENSE = GPL-2.0+
OVERWRITER_DEPENDENCIES = basefiles

define OVERWRITER_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/data.txt $(TARGET_DIR)/usr/share/base/data.txt
endef
$(eval $(generic-package))
