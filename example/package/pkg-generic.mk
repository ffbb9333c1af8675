################################################################################
#
# Generic package infrastructure for the example (a small pkg-generic.mk)
#
# Each package gets $(BUILD_DIR)/<pkg>/ with one stamp file per step
# (.stamp_downloaded, _extracted, _configured, _built, _host_installed or
# _staging_installed/_target_installed, _installed) and the phony targets
# <pkg>, <pkg>-source, -extract, -configure, -build, -install, -rebuild,
# -reconfigure, -reinstall and -dirclean.
#
# Every stamp rule sets the target-specific variable PKG to the package's
# variable prefix: inside its recipes HOST_DIR, STAGING_DIR and TARGET_DIR
# are the package's per-package directories. As in Buildroot, a package's
# per-package directory is filled from its direct dependencies (sorted, the
# last one wins) at the start of the download, extract and configure steps;
# the configure step then runs the POST_PREPARE_HOOKS (the path fixup).
#
# A package .mk file sets, with <PKG> its variable prefix:
#   <PKG>_VERSION            version (default 1.0)
#   <PKG>_SITE               directory packed as the "upstream" tarball
#                            (default: the package's src/), or
#   <PKG>_GENERATE           arguments of support/mksrc, to generate it
#   <PKG>_DEPENDENCIES       packages whose files the configure step needs
#   <PKG>_CONFIGURE_CMDS, <PKG>_BUILD_CMDS
#   <PKG>_INSTALL_CMDS       host packages: install into $(HOST_DIR)
#   <PKG>_INSTALL_STAGING    YES to run <PKG>_INSTALL_STAGING_CMDS
#   <PKG>_INSTALL_TARGET_CMDS
#   <PKG>_ENABLED            NO to leave a target package out of PACKAGES
# and ends with $(eval $(generic-package)) or $(eval $(host-generic-package)).
#
################################################################################

# Instrumentation: each hook in GLOBAL_INSTRUMENTATION_HOOKS is called as
# $(call hook,start|end,<step>,<package name>); its expansion becomes
# recipe lines of the step.
define step_start
	$(foreach hook,$(GLOBAL_INSTRUMENTATION_HOOKS),$(call $(hook),start,$(1),$($(PKG)_NAME))$(sep))
endef
define step_end
	$(foreach hook,$(GLOBAL_INSTRUMENTATION_HOOKS),$(call $(hook),end,$(1),$($(PKG)_NAME))$(sep))
endef

# Step timestamps in $(BUILD_DIR)/build-time.log, as Buildroot's step_time
# hook writes them ("<time>:<start|end>:<step>:<package>"), for seeing where
# a build spends its time. bash's EPOCHREALTIME costs no fork.
define step_time
	echo "$${EPOCHREALTIME}:$(1):$(2):$(3)" >>$(BUILD_DIR)/build-time.log
endef
GLOBAL_INSTRUMENTATION_HOOKS += step_time

$(BUILD_DIR):
	$(Q)mkdir -p $@

# Check host executables' RPATHs at the end of each host install step
# (Buildroot's check_host_rpath hook, on top of ppd).
GLOBAL_INSTRUMENTATION_HOOKS += ppd_check_host_rpath

# How a step fills the running package's per-package directory from
# dependencies: example-prepare in the download and extract steps,
# example-prepare-configure in the configure step, which also rewrites paths
# that name other packages' per-package directories (Buildroot's
# PPD_FIXUP_PATHS post-prepare hook). Both are empty without per-package
# directories.
# $1: the dependencies (sorted)
ifeq ($(PER_PACKAGE)-$(PPD_BACKEND),y-ppd)
example-prepare = $(call ppd-prepare,$(1))
# One ppd call; the manifest it writes also records the rewritten files, so
# that ppd-file-list does not list them as the package's own.
example-prepare-configure = $(call ppd-prepare,$(1),fixup)
else ifeq ($(PER_PACKAGE),y)
example-prepare = $(call prepare-per-package-directory,$(1))
define example-prepare-configure
	$(call prepare-per-package-directory,$(1))
	$(foreach hook,$($(PKG)_POST_PREPARE_HOOKS),$(call $(hook))$(sep))
endef
endif

define PPD_FIXUP_PATHS
	$(call ppd-fixup-paths,$(PER_PACKAGE_DIR)/$($(PKG)_NAME))
endef

# File lists: which files each package installed. Buildroot's way is a
# find | sort snapshot of each tree before configure and after install,
# compared with comm; with ppd the manifest prepare wrote is the "before".
ifeq ($(PER_PACKAGE)-$(PPD_BACKEND),y-ppd)
example-files-list-before =
define example-files-list-after
	$(call ppd-file-list,$($(PKG)_NAME),$($(PKG)_DIR))
endef
else
# $1: tree, $2: list suffix
define pkg_size_before
	$(Q)$(example-timed-start) cd $(1) && \
	LC_ALL=C find . -not -path './$(STAGING_SUBDIR)/*' \( -type f -o -type l \) \
		-printf '%T@:%i:%#m:%y:%s,%p\n' \
		| LC_ALL=C sort > $($(PKG)_DIR)/.files-list$(2).before \
		$(call example-timed-end,find|sort|comm (file-list))
endef
define pkg_size_after
	$(Q)$(example-timed-start) cd $(1) && \
	LC_ALL=C find . -not -path './$(STAGING_SUBDIR)/*' \( -type f -o -type l \) \
		-printf '%T@:%i:%#m:%y:%s,%p\n' \
		| LC_ALL=C sort > $($(PKG)_DIR)/.files-list$(2).after && \
	LC_ALL=C comm -13 \
		$($(PKG)_DIR)/.files-list$(2).before \
		$($(PKG)_DIR)/.files-list$(2).after \
		| sed -r -e 's/^[^,]+/$($(PKG)_NAME)/' \
		> $($(PKG)_DIR)/.files-list$(2).txt && \
	rm -f $($(PKG)_DIR)/.files-list$(2).before $($(PKG)_DIR)/.files-list$(2).after \
		$(call example-timed-end,find|sort|comm (file-list))
endef
define example-files-list-before
	$(call pkg_size_before,$(TARGET_DIR))
	$(call pkg_size_before,$(STAGING_DIR),-staging)
	$(call pkg_size_before,$(HOST_DIR),-host)
endef
define example-files-list-after
	$(call pkg_size_after,$(TARGET_DIR))
	$(call pkg_size_after,$(STAGING_DIR),-staging)
	$(call pkg_size_after,$(HOST_DIR),-host)
endef
endif

# Packs the package's sources into $(DL_DIR), reproducibly (the "download").
# $1: variable prefix
define example-download
	$(Q)rm -rf $($(1)_DIR)/.src && mkdir -p $($(1)_DIR)/.src $(DL_DIR)
	$(Q)$(if $($(1)_GENERATE),\
		$(EXAMPLE_SUPPORT)/mksrc $(word 1,$($(1)_GENERATE)) $($(1)_NAME) \
			$($(1)_DIR)/.src $(wordlist 2,999,$($(1)_GENERATE)),\
		cp -a $($(1)_SITE)/. $($(1)_DIR)/.src/)
	$(Q)tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C $($(1)_DIR)/.src -cf $($(1)_SOURCE).tmp . && mv $($(1)_SOURCE).tmp $($(1)_SOURCE)
	$(Q)rm -rf $($(1)_DIR)/.src
endef

################################################################################
# inner-generic-package -- generate the make targets of one package
#
#  argument 1 is the lowercase package name (host-libfoo)
#  argument 2 is the uppercase variable prefix (HOST_LIBFOO)
#  argument 3 is the package type: target or host
#
# The body is expanded twice: once by $(call) (single $), once by $(eval).
# Anything that must be evaluated when a recipe runs, where PKG selects the
# per-package directories, is therefore written $$.
################################################################################
define inner-generic-package

$(2)_NAME = $(1)
$(2)_TYPE = $(3)
$(2)_PKGDIR := $(pkgdir)
$(2)_VERSION ?= 1.0
$(2)_SITE ?= $$($(2)_PKGDIR)src
$(2)_DIR = $$(BUILD_DIR)/$(1)
$(2)_SOURCE = $$(DL_DIR)/$(1)-$$($(2)_VERSION).tar

ifeq ($(3),target)
ifneq ($$($(2)_ADD_SKELETON_DEPENDENCY),NO)
$(2)_DEPENDENCIES += skeleton
endif
ifneq ($$($(2)_ADD_TOOLCHAIN_DEPENDENCY),NO)
$(2)_DEPENDENCIES += toolchain
endif
ifneq ($$($(2)_ENABLED),NO)
PACKAGES += $(1)
endif
endif
ifneq ($(1),host-skeleton)
$(2)_DEPENDENCIES += host-skeleton
endif
ifeq ($$(PER_PACKAGE),y)
$(2)_POST_PREPARE_HOOKS += PPD_FIXUP_PATHS
endif

$(2)_FINAL_DEPENDENCIES = $$(sort $$($(2)_DEPENDENCIES))
$(2)_FINAL_DOWNLOAD_DEPENDENCIES = $$(sort $$($(2)_DOWNLOAD_DEPENDENCIES))
$(2)_FINAL_EXTRACT_DEPENDENCIES = $$(sort $$($(2)_EXTRACT_DEPENDENCIES))

$(2)_TARGET_SOURCE = $$($(2)_DIR)/.stamp_downloaded
$(2)_TARGET_EXTRACT = $$($(2)_DIR)/.stamp_extracted
$(2)_TARGET_CONFIGURE = $$($(2)_DIR)/.stamp_configured
$(2)_TARGET_BUILD = $$($(2)_DIR)/.stamp_built
$(2)_TARGET_INSTALL_HOST = $$($(2)_DIR)/.stamp_host_installed
$(2)_TARGET_INSTALL_STAGING = $$($(2)_DIR)/.stamp_staging_installed
$(2)_TARGET_INSTALL_TARGET = $$($(2)_DIR)/.stamp_target_installed
$(2)_TARGET_INSTALL = $$($(2)_DIR)/.stamp_installed

ifeq ($(3),host)
$(2)_INSTALL_STEPS = $$($(2)_TARGET_INSTALL_HOST)
else ifeq ($$($(2)_INSTALL_STAGING),YES)
$(2)_INSTALL_STEPS = $$($(2)_TARGET_INSTALL_STAGING) $$($(2)_TARGET_INSTALL_TARGET)
else
$(2)_INSTALL_STEPS = $$($(2)_TARGET_INSTALL_TARGET)
endif

$$($(2)_TARGET_SOURCE): | $$(EXAMPLE_TIMED) $$(BUILD_DIR)
	@$$(call step_start,download)
	@$$(call MESSAGE,"Downloading")
	$$(call example-prepare,$$($(2)_FINAL_DOWNLOAD_DEPENDENCIES))
	$(Q)mkdir -p $$(@D)
	$$(if $$(wildcard $$($(2)_SOURCE)),,$$(call example-download,$(2)))
	@$$(call step_end,download)
	$(Q)touch $$@

$$($(2)_TARGET_EXTRACT): $$($(2)_TARGET_SOURCE)
	@$$(call step_start,extract)
	@$$(call MESSAGE,"Extracting")
	$$(call example-prepare,$$($(2)_FINAL_EXTRACT_DEPENDENCIES))
	$(Q)tar -xf $$($(2)_SOURCE) -C $$(@D)
	@$$(call step_end,extract)
	$(Q)touch $$@

$$($(2)_TARGET_CONFIGURE): | $$($(2)_FINAL_DEPENDENCIES)
$$($(2)_TARGET_CONFIGURE): $$($(2)_TARGET_EXTRACT)
	@$$(call step_start,configure)
	@$$(call MESSAGE,"Configuring")
	$(Q)mkdir -p $$(HOST_DIR) $$(TARGET_DIR) $$(STAGING_DIR)
	$$(call example-prepare-configure,$$($(2)_FINAL_DEPENDENCIES))
	$$(example-files-list-before)
	$$($(2)_CONFIGURE_CMDS)
	@$$(call step_end,configure)
	$(Q)touch $$@

$$($(2)_TARGET_BUILD): $$($(2)_TARGET_CONFIGURE)
	@$$(call step_start,build)
	@$$(call MESSAGE,"Building")
	$$($(2)_BUILD_CMDS)
	@$$(call step_end,build)
	$(Q)touch $$@

$$($(2)_TARGET_INSTALL_HOST): $$($(2)_TARGET_BUILD)
	@$$(call step_start,install-host)
	@$$(call MESSAGE,"Installing to host directory")
	$$($(2)_INSTALL_CMDS)
	@$$(call step_end,install-host)
	$(Q)touch $$@

$$($(2)_TARGET_INSTALL_STAGING): $$($(2)_TARGET_BUILD)
	@$$(call step_start,install-staging)
	@$$(call MESSAGE,"Installing to staging directory")
	$$($(2)_INSTALL_STAGING_CMDS)
	@$$(call step_end,install-staging)
	$(Q)touch $$@

$$($(2)_TARGET_INSTALL_TARGET): $$($(2)_TARGET_BUILD)
	@$$(call step_start,install-target)
	@$$(call MESSAGE,"Installing to target")
	$$($(2)_INSTALL_TARGET_CMDS)
	@$$(call step_end,install-target)
	$(Q)touch $$@

$$($(2)_TARGET_INSTALL): $$($(2)_INSTALL_STEPS)
	@$$(call step_start,install)
	$$(example-files-list-after)
	@$$(call step_end,install)
	$(Q)touch $$@

$$($(2)_TARGET_SOURCE) $$($(2)_TARGET_EXTRACT) $$($(2)_TARGET_CONFIGURE) \
$$($(2)_TARGET_BUILD) $$($(2)_TARGET_INSTALL_HOST) $$($(2)_TARGET_INSTALL_STAGING) \
$$($(2)_TARGET_INSTALL_TARGET) $$($(2)_TARGET_INSTALL): PKG = $(2)
$(1)-dirclean: PKG = $(2)

.PHONY: $(1) $(1)-source $(1)-extract $(1)-configure $(1)-build $(1)-install \
	$(1)-dirclean $(1)-clean-for-reinstall $(1)-reinstall \
	$(1)-clean-for-rebuild $(1)-rebuild $(1)-clean-for-reconfigure $(1)-reconfigure

$(1): $(1)-install
$(1)-install: $$($(2)_TARGET_INSTALL)
$(1)-source: $$($(2)_TARGET_SOURCE)
$(1)-extract: $$($(2)_TARGET_EXTRACT)
$(1)-configure: $$($(2)_TARGET_CONFIGURE)
$(1)-build: $$($(2)_TARGET_BUILD)

# The clean-for-* steps only remove stamps; the package is then made again
# by a sub-make, so that -j cannot run the build before the removal.
$(1)-clean-for-reinstall:
	$(Q)rm -f $$($(2)_DIR)/.stamp_*installed
$(1)-clean-for-rebuild: $(1)-clean-for-reinstall
	$(Q)rm -f $$($(2)_TARGET_BUILD)
$(1)-clean-for-reconfigure: $(1)-clean-for-rebuild
	$(Q)rm -f $$($(2)_TARGET_CONFIGURE)
$(1)-reinstall: $(1)-clean-for-reinstall
	$(Q)$$(MAKE) $(1)
$(1)-rebuild: $(1)-clean-for-rebuild
	$(Q)$$(MAKE) $(1)
$(1)-reconfigure: $(1)-clean-for-reconfigure
	$(Q)$$(MAKE) $(1)
$(1)-dirclean:
	$(Q)rm -Rf $$(PER_PACKAGE_DIR)/$(1) $$($(2)_DIR)

endef # inner-generic-package

# The package whose .mk file is being read: package/<name>/<name>.mk.
pkgdir = $(dir $(lastword $(MAKEFILE_LIST)))
pkgname = $(lastword $(subst /, ,$(pkgdir)))

# generic-package, host-generic-package -- the calls a package .mk ends with
# example: $(eval $(generic-package))
generic-package = $(call inner-generic-package,$(pkgname),$(call UPPERCASE,$(pkgname)),target)
host-generic-package = $(call inner-generic-package,host-$(pkgname),$(call UPPERCASE,host-$(pkgname)),host)
