################################################################################
#
# skeleton
#
################################################################################

# The base directory layout of the target and host trees. Every package
# depends on host-skeleton, every target package on skeleton too.
SKELETON_ADD_SKELETON_DEPENDENCY = NO
SKELETON_ADD_TOOLCHAIN_DEPENDENCY = NO

define SKELETON_INSTALL_TARGET_CMDS
	$(Q)mkdir -p $(TARGET_DIR)/bin $(TARGET_DIR)/sbin $(TARGET_DIR)/lib \
		$(TARGET_DIR)/usr/bin $(TARGET_DIR)/usr/lib $(TARGET_DIR)/etc \
		$(TARGET_DIR)/tmp $(TARGET_DIR)/var
	$(Q)chmod 1777 $(TARGET_DIR)/tmp
	$(Q)ln -snf lib $(TARGET_DIR)/lib64
	$(Q)ln -snf ../tmp $(TARGET_DIR)/var/tmp
	$(Q)install -m 0644 $(@D)/hostname $(TARGET_DIR)/etc/hostname
	$(Q)install -m 0644 $(@D)/os-release $(TARGET_DIR)/usr/lib/os-release
	$(Q)ln -snf ../usr/lib/os-release $(TARGET_DIR)/etc/os-release
endef

$(eval $(generic-package))

define HOST_SKELETON_INSTALL_CMDS
	$(Q)mkdir -p $(HOST_DIR)/bin $(HOST_DIR)/lib $(HOST_DIR)/include \
		$(HOST_DIR)/share
	$(Q)ln -snf lib $(HOST_DIR)/lib64
endef

$(eval $(host-generic-package))
