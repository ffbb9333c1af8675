################################################################################
#
# Example C package infrastructures on top of generic-package
#
# clib-package: a generated shared library <name>.so.1.0 with its header,
#   a .pc file, a libtool .la file with absolute paths and, with
#   <PKG>_CONFIG_SCRIPT = YES, a <name>-config script; all installed to
#   staging, the library also to the target.
# capp-package: a generated program installed to the target's /usr/bin,
#   with <PKG>_GEN = YES also running host-gen at build time.
#
# <PKG>_LIBS lists the libraries the generated sources use (default: the
# lib* packages of <PKG>_DEPENDENCIES). Both infrastructures find them with
# pkg-config and check their .la files the way libtool would read them, so a
# package only builds if its declared dependencies are in its per-package
# directory with paths that point into it.
#
################################################################################

# example-configure-libs -- the configure step of clib and capp packages
# $1: variable prefix
define example-configure-libs
	$(Q)$(EXAMPLE_SUPPORT)/libtool-check $(STAGING_DIR) $($(1)_LIBS)
	$(Q)cd $($(1)_DIR) && PATH=$(BR_PATH) pkg-config --cflags --libs $($(1)_LIBS) >pkgflags
endef

################################################################################
# inner-clib-package -- generate a shared library package
#
#  argument 1 is the lowercase package name
#  argument 2 is the uppercase variable prefix
################################################################################
define inner-clib-package

$(2)_LIBS ?= $$(filter lib%,$$($(2)_DEPENDENCIES))
$(2)_GENERATE = lib $$($(2)_LIBS)
$(2)_DEPENDENCIES += host-pkgconf
$(2)_INSTALL_STAGING = YES

define $(2)_CONFIGURE_CMDS
	$$(call example-configure-libs,$(2))
endef

define $(2)_BUILD_CMDS
	$(Q)cd $$(@D) && $$(TARGET_CC) $$(TARGET_CFLAGS) -fPIC -shared \
		-Wl,-soname,$(1).so.1 -Wl,-rpath,'$$$$ORIGIN' \
		-o $(1).so.1.0 $(1).c $$$$(cat pkgflags)
endef

define $(2)_INSTALL_STAGING_CMDS
	$(Q)install -D -m 0755 $$(@D)/$(1).so.1.0 $$(STAGING_DIR)/usr/lib/$(1).so.1.0
	$(Q)ln -sf $(1).so.1.0 $$(STAGING_DIR)/usr/lib/$(1).so.1
	$(Q)ln -sf $(1).so.1 $$(STAGING_DIR)/usr/lib/$(1).so
	$(Q)install -D -m 0644 $$(@D)/$(1).h $$(STAGING_DIR)/usr/include/$(1).h
	$(Q)$$(EXAMPLE_SUPPORT)/install-devfiles staging $$(STAGING_DIR) $(1) \
		$$($(2)_VERSION) $$(if $$(filter YES,$$($(2)_CONFIG_SCRIPT)),config,noconfig) \
		$$($(2)_LIBS)
endef

define $(2)_INSTALL_TARGET_CMDS
	$(Q)install -D -m 0755 $$(@D)/$(1).so.1.0 $$(TARGET_DIR)/usr/lib/$(1).so.1.0
	$(Q)ln -sf $(1).so.1.0 $$(TARGET_DIR)/usr/lib/$(1).so.1
endef

$$(eval $$(call inner-generic-package,$(1),$(2),target))

endef # inner-clib-package

################################################################################
# inner-capp-package -- generate a program package
#
#  argument 1 is the lowercase package name
#  argument 2 is the uppercase variable prefix
################################################################################
define inner-capp-package

$(2)_LIBS ?= $$(filter lib%,$$($(2)_DEPENDENCIES))
$(2)_GENERATE = app $$(if $$(filter YES,$$($(2)_GEN)),y,n) $$($(2)_LIBS)
$(2)_DEPENDENCIES += host-pkgconf $$(if $$(filter YES,$$($(2)_GEN)),host-gen)

define $(2)_CONFIGURE_CMDS
	$$(call example-configure-libs,$(2))
endef

define $(2)_BUILD_CMDS
	$(Q)$$(if $$(filter YES,$$($(2)_GEN)),$$(HOST_DIR)/bin/gen $(subst -,_,$(1)) >$$(@D)/gen.c,: >$$(@D)/gen.c)
	$(Q)cd $$(@D) && $$(TARGET_CC) $$(TARGET_CFLAGS) \
		-Wl,-rpath,'$$$$ORIGIN/../lib' -o $(1) main.c gen.c $$$$(cat pkgflags)
endef

define $(2)_INSTALL_TARGET_CMDS
	$(Q)install -D -m 0755 $$(@D)/$(1) $$(TARGET_DIR)/usr/bin/$(1)
endef

$$(eval $$(call inner-generic-package,$(1),$(2),target))

endef # inner-capp-package

# clib-package, capp-package -- the calls a package .mk ends with
# example: $(eval $(clib-package))
clib-package = $(call inner-clib-package,$(pkgname),$(call UPPERCASE,$(pkgname)))
capp-package = $(call inner-capp-package,$(pkgname),$(call UPPERCASE,$(pkgname)))
