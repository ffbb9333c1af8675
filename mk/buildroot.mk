################################################################################
#
# buildroot.mk -- run a Buildroot tree's per-package directory steps on ppd
#
# Include this file after Buildroot's own makefiles, for example from a
# BR2_EXTERNAL tree's external.mk:
#
#   PPD = /usr/local/bin/ppd
#   include /path/to/ppd/mk/buildroot.mk
#
# With BR2_PER_PACKAGE_DIRECTORIES=y it redefines the three macros of
# Buildroot's package/pkg-utils.mk, with the same names and arguments:
#   per-package-rsync              -> ppd prepare (hardlink) or finalize (copy)
#   prepare-per-package-directory  -> one ppd prepare for host and target
#   ppd-fixup-paths                -> ppd fixup-paths
# Buildroot expands them only inside recipes, after every makefile has been
# read, so the definitions here win without any change to Buildroot. The
# behaviour is Buildroot's: dependencies in the order given, the last one
# wins a path, nothing deleted in the destination, text files rewritten
# through a new file. With PPD_CHECK_HOST_RPATH=y, check_host_rpath (the
# instrumentation hook running support/scripts/check-host-rpath) becomes
# ppd check-rpath too.
#
# PPD_BUILDROOT_PREPARE_OPTS holds the options for ppd prepare. By default
# (empty) ppd keeps a manifest beside each per-package tree, so a
# reconfigure after a dependency's rebuild removes the entries that
# dependency no longer provides (Buildroot keeps them forever), and it
# reports on stderr, without failing, each path that several dependencies
# provide differently (Buildroot lets the last one win silently). Copies of
# .la and .pc files rewritten by the path fixup are not reported: the
# manifests trace them to the package that installed them. Set it to
# "--no-manifest --conflicts ignore" for exactly the rsync loop's behaviour,
# or add "--conflicts error" to fail the build on an overwrite.
#
# To check that it is active: 'make -s printvars VARS=PPD_BUILDROOT_MK' prints
# this file's path, and 'make <pkg>-reconfigure V=1' shows 'ppd prepare'
# where Buildroot shows 'rsync -a --hard-links --link-dest=...'.
#
################################################################################

ifndef PPD_MK_INCLUDED
include $(dir $(lastword $(MAKEFILE_LIST)))ppd.mk
endif

ifeq ($(BR2_PER_PACKAGE_DIRECTORIES),y)

PPD_BUILDROOT_MK := $(abspath $(lastword $(MAKEFILE_LIST)))
PPD_BUILDROOT_PREPARE_OPTS ?=

# per-package-rsync -- merge packages' per-package trees into a directory
# $1: space-separated list of packages to merge from, in this order
# $2: 'host' or 'target': the tree to merge
# $3: destination directory
# $4: literal "copy" or "hardlink" to copy or hardlink files from src to dest
# example:
#   $(call per-package-rsync,$(sort $(PACKAGES)),target,$(TARGET_DIR),copy)
define per-package-rsync
	$(Q)mkdir -p $(3)
	$(if $(strip $(1)),\
		$(if $(filter hardlink,$(4)),\
			$(Q)+$(_ppd) prepare $(_ppd-opts) $(PPD_BUILDROOT_PREPARE_OPTS) \
				--per-package-dir $(PER_PACKAGE_DIR) --$(2)-dir $(3) $(1),\
			$(Q)+$(_ppd) finalize $(_ppd-opts) \
				--per-package-dir $(PER_PACKAGE_DIR) --tree $(2) --dest $(3) \
				--mode copy $(1)))
endef

# prepare-per-package-directory -- fill the running package's per-package
# host and target trees from its dependencies, as hard links
# $1: space-separated list of packages to merge from, in this order
# example: $(call prepare-per-package-directory,$($(PKG)_FINAL_DEPENDENCIES))
define prepare-per-package-directory
	$(Q)mkdir -p $(HOST_DIR) $(TARGET_DIR)
	$(if $(strip $(1)),\
		$(Q)+$(_ppd) prepare $(_ppd-opts) $(PPD_BUILDROOT_PREPARE_OPTS) \
			--per-package-dir $(PER_PACKAGE_DIR) \
			--host-dir $(HOST_DIR) --target-dir $(TARGET_DIR) $(1))
endef

# ppd-fixup-paths -- rewrite other packages' per-package paths in the text
# files of $(HOST_DIR)
# $1: the new root that $(PER_PACKAGE_DIR)/<pkg> becomes
# example: $(call ppd-fixup-paths,$(BASE_DIR))
define ppd-fixup-paths
	$(Q)+$(_ppd) fixup-paths $(_ppd-opts) --per-package-dir $(PER_PACKAGE_DIR) \
		--new-root $(1) $(HOST_DIR)
endef

ifeq ($(PPD_CHECK_HOST_RPATH),y)
# check_host_rpath -- Buildroot's instrumentation hook, on ppd check-rpath
# $1: start or end
# $2: the step name
# $3: the package name
define check_host_rpath
	$(call ppd_check_host_rpath,$(1),$(2),$(3))
endef
endif

endif # BR2_PER_PACKAGE_DIRECTORIES
