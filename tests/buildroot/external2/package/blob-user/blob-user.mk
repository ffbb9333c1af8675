################################################################################
#
# blob-user: depends on the virtual package and on the staging-only package
#
################################################################################

BLOB_USER_VERSION = 1.0
BLOB_USER_SITE = $(PPDTEST2_SRC)/blob-user
BLOB_USER_SITE_METHOD = local
BLOB_USER_LICENSE = GPL-2.0+
BLOB_USER_DEPENDENCIES = virtual-blob hdronly

define BLOB_USER_BUILD_CMDS
	test -f $(STAGING_DIR)/usr/share/blob/blob.txt
	$(TARGET_CC) $(TARGET_CFLAGS) $(TARGET_LDFLAGS) -o $(@D)/blob-user $(@D)/user.c -lhdr
endef
define BLOB_USER_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/blob-user $(TARGET_DIR)/usr/bin/blob-user
	cp $(STAGING_DIR)/usr/share/blob/blob.txt $(TARGET_DIR)/usr/share/blob/used.txt
endef
$(eval $(generic-package))
