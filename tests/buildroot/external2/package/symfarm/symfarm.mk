################################################################################
#
# symfarm: a symlink-heavy install, through the lib64 -> lib and lib -> usr/lib symlinks
#
################################################################################

SYMFARM_VERSION = 1.0
SYMFARM_SITE = $(PPDTEST2_SRC)/symfarm
SYMFARM_SITE_METHOD = local
SYMFARM_LICENSE = GPL-2.0+
SYMFARM_INSTALL_STAGING = YES
SYMFARM_DEPENDENCIES = basefiles

define SYMFARM_BUILD_CMDS
	$(TARGET_CC) $(TARGET_CFLAGS) -fPIC -shared -Wl,-soname,libsym.so.1 \
		-o $(@D)/libsym.so.1.2.3 $(@D)/sym.c
endef
# $1: the tree
define SYMFARM_INSTALL
	$(INSTALL) -D -m 0755 $(@D)/libsym.so.1.2.3 $(1)/lib64/libsym.so.1.2.3
	ln -sf libsym.so.1.2.3 $(1)/lib64/libsym.so.1
	ln -sf libsym.so.1 $(1)/lib/libsym.so
	mkdir -p $(1)/usr/share/symfarm/v1 $(1)/usr/bin
	$(INSTALL) -m 0644 $(@D)/data.txt $(1)/usr/share/symfarm/v1/data.txt
	ln -f $(1)/usr/share/symfarm/v1/data.txt $(1)/usr/share/symfarm/v1/hardlink.txt
	ln -f $(1)/usr/share/symfarm/v1/data.txt $(1)/usr/share/symfarm/hardlink2.txt
	ln -sfn v1 $(1)/usr/share/symfarm/current
	ln -sf current/data.txt $(1)/usr/share/symfarm/chain1
	ln -sf chain1 $(1)/usr/share/symfarm/chain2
	ln -sf /usr/share/symfarm/current/data.txt $(1)/usr/share/symfarm/absolute
	ln -sf /nonexistent/target $(1)/usr/share/symfarm/dangling
	ln -sf ../base/kept.txt $(1)/usr/share/symfarm/to-basefiles
	ln -sf ../share/symfarm/chain2 $(1)/usr/bin/symfarm-data
	$(INSTALL) -D -m 0644 $(@D)/data.txt $(1)/usr/share/symfarm/current/via-dirlink.txt
endef
define SYMFARM_INSTALL_STAGING_CMDS
	$(call SYMFARM_INSTALL,$(STAGING_DIR))
endef
define SYMFARM_INSTALL_TARGET_CMDS
	$(call SYMFARM_INSTALL,$(TARGET_DIR))
endef
$(eval $(generic-package))
