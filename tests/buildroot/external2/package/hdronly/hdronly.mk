################################################################################
#
# hdronly: a package installing to staging only (headers, a static library, a .pc)
#
################################################################################

HDRONLY_VERSION = 1.0
HDRONLY_SITE = $(PPDTEST2_SRC)/hdronly
HDRONLY_SITE_METHOD = local
HDRONLY_LICENSE = GPL-2.0+
HDRONLY_INSTALL_STAGING = YES
HDRONLY_INSTALL_TARGET = NO

define HDRONLY_BUILD_CMDS
	$(TARGET_CC) $(TARGET_CFLAGS) -c -o $(@D)/hdr.o $(@D)/hdr.c
	$(TARGET_AR) rcs $(@D)/libhdr.a $(@D)/hdr.o
endef
define HDRONLY_INSTALL_STAGING_CMDS
	$(INSTALL) -D -m 0644 $(@D)/hdr.h $(STAGING_DIR)/usr/include/hdronly/hdr.h
	$(INSTALL) -D -m 0644 $(@D)/libhdr.a $(STAGING_DIR)/usr/lib/libhdr.a
	mkdir -p $(STAGING_DIR)/usr/lib/pkgconfig
	printf 'prefix=/usr\nName: hdr\nDescription: hdr\nVersion: 1.0\nLibs: -lhdr\n' \
		> $(STAGING_DIR)/usr/lib/pkgconfig/hdr.pc
endef
$(eval $(generic-package))
