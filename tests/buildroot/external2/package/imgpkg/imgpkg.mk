################################################################################
#
# imgpkg: a package installing images into BINARIES_DIR (and one file into the target)
#
################################################################################

IMGPKG_VERSION = 1.0
IMGPKG_SITE = $(PPDTEST2_SRC)/imgpkg
IMGPKG_SITE_METHOD = local
IMGPKG_LICENSE = GPL-2.0+
IMGPKG_INSTALL_IMAGES = YES

define IMGPKG_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/board.dts $(TARGET_DIR)/usr/share/imgpkg/board.dts
endef
define IMGPKG_INSTALL_IMAGES_CMDS
	$(INSTALL) -D -m 0644 $(@D)/blob.bin "$(BINARIES_DIR)/boot blob.bin"
	$(INSTALL) -D -m 0644 $(@D)/board.dts "$(BINARIES_DIR)/dtb/board#1.dtb"
	ln -sf "boot blob.bin" $(BINARIES_DIR)/boot.bin
endef
$(eval $(generic-package))
