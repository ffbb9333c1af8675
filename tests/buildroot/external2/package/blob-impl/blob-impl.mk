################################################################################
#
# blob-impl: the provider of virtual-blob
#
################################################################################

BLOB_IMPL_VERSION = 1.0
BLOB_IMPL_SITE = $(PPDTEST2_SRC)/blob-impl
BLOB_IMPL_SITE_METHOD = local
BLOB_IMPL_LICENSE = GPL-2.0+
BLOB_IMPL_INSTALL_STAGING = YES
BLOB_IMPL_PROVIDES = virtual-blob

define BLOB_IMPL_INSTALL_STAGING_CMDS
	$(INSTALL) -D -m 0644 $(@D)/blob.txt $(STAGING_DIR)/usr/share/blob/blob.txt
endef
define BLOB_IMPL_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/blob.txt $(TARGET_DIR)/usr/share/blob/blob.txt
endef
$(eval $(generic-package))
