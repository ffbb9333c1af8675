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
# With BR2_PER_PACKAGE_DIRECTORIES=y it takes over every per-package
# directory and per-package instrumentation step, keeping Buildroot's names,
# arguments, outputs and exit statuses:
#   per-package-rsync              -> ppd prepare (hardlink) or ppd finalize
#                                     (copy)
#   prepare-per-package-directory  -> one ppd prepare for host and target; in
#                                     the configure step also the path fixup
#                                     (PPD_FIXUP_PATHS), recorded in the
#                                     manifest
#   ppd-fixup-paths                -> ppd fixup-paths
#   pkg_size_before/pkg_size_after -> ppd file-list (the same
#                                     .files-list*.txt, byte for byte)
#   PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC -> a find of the lib/python*
#                                     directories only, not the whole tree
#   check_bin_arch                 -> ppd file-list --check-bin-arch (in
#                                     the process that wrote the lists), or
#                                     ppd check-bin-arch
#   check_host_rpath               -> ppd check-rpath
#   support/scripts/fix-rpath      -> ppd fix-rpath, in host-finalize and
#                                     target-finalize (see PPD_TOPDIR below)
# Buildroot expands all of these only inside recipes, after every makefile
# has been read, so the definitions here win without any change to
# Buildroot.
#
# The behaviour is Buildroot's: dependencies in the order given, the last one
# wins a path, text files rewritten through a new file, the final merges
# delete nothing in the destination. Where ppd does more, it says so: a
# re-prepare (a -reconfigure) removes the entries a dependency placed before
# and no longer provides (the manifests beside each tree record them); paths
# that several dependencies provide differently, and dependency files a
# package overwrote, are reported on stderr without failing.
#
# Rebuilds cannot reach dependents: before a package's build and install
# steps run again, the files it installed itself that its dependents share
# through hard links get a private inode (ppd unshare), so an install that
# writes into an existing file changes only the package's copy; before its
# configure step runs again, they are removed from its trees, which the
# re-prepare then fills from the dependencies as in a clean build. 'make
# ppd-outdated' then names the packages whose copies differ from what their
# dependencies provide now, with the make targets that refresh them.
#
# Variables (set them before or after including this file):
#   PPD_PREPARE_OPTS    options for ppd prepare, e.g. "--conflicts error";
#                       "--no-manifest --conflicts ignore" is exactly the
#                       rsync loop (PPD_BUILDROOT_PREPARE_OPTS is still read)
#   PPD_FINALIZE_OPTS   options for ppd finalize, e.g. "--conflicts error"
#   PPD_LINK_MODE       ppd prepare's --link-mode (see mk/ppd.mk): auto,
#                       hardlink, reflink or snapshot; with snapshot ppd
#                       creates every package's trees (btrfs subvolumes)
#   PPD_FINALIZE_LINK_MODE  ppd finalize's --link-mode: auto, reflink, copy
#   PPD_OPTS            options for every ppd call, e.g. -v
#   PPD_CHECK_HOST_RPATH  n: keep Buildroot's check-host-rpath script
#   PPD_FIX_RPATH       n: keep Buildroot's fix-rpath script
#   PPD_UNSHARE         n: leave a rebuilt package's files shared with its
#                       dependents, and in its trees at a -reconfigure
#   PPD_FIXUP_CACHE     the path fixup's scan cache (default
#                       $(PER_PACKAGE_DIR)/.ppd-fixup-cache, removed by
#                       'make clean' with the per-package directories):
#                       inodes already found to hold no per-package path
#                       are not read again at every configure step; empty:
#                       read every file each time
#   PPD_BUILDROOT_STRICT  y: stop make when this Buildroot lacks what a part
#                       below relies on (default: warn, keep that part
#                       Buildroot's; see "What this file relies on")
#   PPD_BUILDROOT_CHECK n: take over every part without checking
#
# What stays Buildroot's: the rsync -auH of fs/common.mk (once per root
# filesystem image, with or without per-package directories) and the
# step_time, step_check_build_dir and step_user hooks.
#
# To check that it is active: 'make -s printvars VARS=PPD_BUILDROOT_MK' prints
# this file's path, and 'make <pkg>-reconfigure V=1' shows 'ppd prepare'
# where Buildroot shows 'rsync -a --hard-links --link-dest=...'.
#
################################################################################

# This file's path, taken before anything else is included.
_ppd-buildroot-mk := $(abspath $(lastword $(MAKEFILE_LIST)))

# Buildroot's ppd-fixup-paths, read before ppd.mk defines its own.
_ppd-br-ppd-fixup-paths := $(value ppd-fixup-paths)

ifndef PPD_MK_INCLUDED
include $(dir $(_ppd-buildroot-mk))ppd.mk
endif

ifeq ($(BR2_PER_PACKAGE_DIRECTORIES),y)

PPD_BUILDROOT_MK := $(_ppd-buildroot-mk)
PPD_BUILDROOT_PREPARE_OPTS ?=
PPD_CHECK_HOST_RPATH ?= y
PPD_FIX_RPATH ?= y
PPD_UNSHARE ?= y
PPD_FIXUP_CACHE ?= $(PER_PACKAGE_DIR)/.ppd-fixup-cache
PPD_BUILDROOT_STRICT ?=
PPD_BUILDROOT_CHECK ?= y

# --- What this file relies on in Buildroot -----------------------------------
# Each part below replaces a group of Buildroot's definitions. It does so
# only when this Buildroot defines them as this file expects (names, and a
# text each definition holds: checked by Buildroot 2026.05.1 and by what
# 2024.02.x and 2025.02.x define); otherwise that part stays Buildroot's and
# make prints one warning per run naming what is missing, so a build never
# silently mixes ppd's step with a Buildroot that does it differently.
# PPD_BUILDROOT_STRICT=y makes it an error instead. PPD_BUILDROOT_CHECK=n
# skips the checks and takes over every part (for a Buildroot-style tree that
# defines some of these macros after this file is read, as the project's
# example does).
#
# $1: a variable; $2: a text its definition holds (no comma)
# Expands to nothing when it does (or when it is not defined: see
# _ppd-br-undefined), else to a description of what is missing.
_ppd-br-lacks = $(if $(filter undefined,$(origin $(1))),,$(if \
	$(findstring $(2),$(value $(1))),,$(1) does not hold '$(2)';))
# $1: variables that must be defined
_ppd-br-undefined = $(foreach v,$(1),$(if $(filter undefined,$(origin $(v))),$(v) is not defined;))
# $1: a variable that must be set (to anything)
_ppd-br-unset = $(if $(strip $($(1))),,$(1) is not set;)
# $1: the part (what stays Buildroot's); $2: what is missing (empty: the part
# is ppd's). Expands to y when the part is ppd's.
_ppd-br-msg = ppd: mk/buildroot.mk: this Buildroot ($(or $(BR2_VERSION),unknown \
	version)) is not what $(1) relies on: $(strip $(2)) so $(1) stays Buildroot's
_ppd-br-part = $(if $(filter n,$(PPD_BUILDROOT_CHECK)),y,$(if $(strip $(2)),$(if $(filter y,$(PPD_BUILDROOT_STRICT)),\
	$(error $(call _ppd-br-msg,$(1),$(2))),$(warning $(call _ppd-br-msg,$(1),$(2)))),y))

# The per-package directory preparation (per-package-rsync,
# prepare-per-package-directory, ppd-fixup-paths, PPD_FIXUP_PATHS): the
# hard-link/copy argument of per-package-rsync (Buildroot 2023.11 and
# later), the path fixup as a post-prepare hook of the configure step.
_ppd-br-prepare := $(call _ppd-br-part,the per-package directory preparation,\
	$(call _ppd-br-undefined,per-package-rsync prepare-per-package-directory PPD_FIXUP_PATHS)\
	$(call _ppd-br-lacks,per-package-rsync,hardlink)\
	$(call _ppd-br-lacks,per-package-rsync,--link-dest)\
	$(call _ppd-br-lacks,prepare-per-package-directory,per-package-rsync)\
	$(if $(findstring PER_PACKAGE_DIR,$(_ppd-br-ppd-fixup-paths)),,\
		ppd-fixup-paths $(if $(_ppd-br-ppd-fixup-paths),does not hold \
		'PER_PACKAGE_DIR',is not defined);)\
	$(call _ppd-br-lacks,PPD_FIXUP_PATHS,ppd-fixup-paths)\
	$(call _ppd-br-unset,PER_PACKAGE_DIR))
# The python sysconfigdata removal of the configure step.
_ppd-br-pyc := $(call _ppd-br-part,PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC,\
	$(call _ppd-br-undefined,PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC)\
	$(call _ppd-br-lacks,PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC,_sysconfigdata))
# The file lists (pkg_size_before, pkg_size_after): ppd file-list takes
# "before" from the manifest ppd prepare writes, so it needs that part.
_ppd-br-file-list := $(call _ppd-br-part,the package file lists,\
	$(if $(_ppd-br-prepare),,the per-package directory preparation is Buildroot's;)\
	$(call _ppd-br-undefined,pkg_size_before pkg_size_after)\
	$(call _ppd-br-lacks,pkg_size_before,.files-list)\
	$(call _ppd-br-lacks,pkg_size_before,-printf)\
	$(call _ppd-br-lacks,pkg_size_after,comm -13)\
	$(call _ppd-br-unset,STAGING_SUBDIR))
# The instrumentation hooks: step_start/step_end calling each hook with
# start|end, the step and the package.
_ppd-br-hooks := $(call _ppd-br-part,the instrumentation hooks (ppd_unshare),\
	$(call _ppd-br-undefined,step_start step_end)\
	$(call _ppd-br-lacks,step_start,GLOBAL_INSTRUMENTATION_HOOKS)\
	$(call _ppd-br-lacks,step_end,GLOBAL_INSTRUMENTATION_HOOKS)\
	$(call _ppd-br-unset,STAGING_SUBDIR))
_ppd-br-bin-arch := $(call _ppd-br-part,check_bin_arch,\
	$(call _ppd-br-undefined,check_bin_arch)\
	$(call _ppd-br-lacks,check_bin_arch,check-bin-arch)\
	$(call _ppd-br-lacks,check_bin_arch,_BIN_ARCH_EXCLUDE)\
	$(call _ppd-br-unset,BR2_READELF_ARCH_NAME))
_ppd-br-host-rpath := $(if $(filter y,$(PPD_CHECK_HOST_RPATH)),$(call \
	_ppd-br-part,check_host_rpath,\
	$(call _ppd-br-undefined,check_host_rpath)\
	$(call _ppd-br-lacks,check_host_rpath,check-host-rpath)\
	$(call _ppd-br-lacks,check_host_rpath,install-host)))
# fix-rpath: the top-level Makefile runs $(TOPDIR)/support/scripts/fix-rpath
# (host-finalize and target-finalize; before 2024.02.7 and 2024.08.1,
# prepare-sdk and target-finalize). One grep of the Makefile per parse.
_ppd-br-fix-rpath := $(if $(filter y,$(PPD_FIX_RPATH)),$(if $(filter \
	n,$(PPD_BUILDROOT_CHECK)),$(if $(wildcard $(TOPDIR)/support/scripts/fix-rpath),y),$(call \
	_ppd-br-part,fix-rpath,$(if $(wildcard $(TOPDIR)/support/scripts/fix-rpath),,\
	$(TOPDIR)/support/scripts/fix-rpath does not exist;)$(if $(shell \
	grep -l -F '$$(TOPDIR)/support/scripts/fix-rpath' $(TOPDIR)/Makefile \
	2>/dev/null),,$(TOPDIR)/Makefile does not run \
	$$(TOPDIR)/support/scripts/fix-rpath;))))

_ppd-prepare-opts = $(PPD_PREPARE_OPTS) $(PPD_BUILDROOT_PREPARE_OPTS)

ifeq ($(_ppd-br-prepare),y)
# per-package-rsync -- merge packages' per-package trees into a directory
# $1: space-separated list of packages to merge from, in this order
# $2: 'host' or 'target': the tree to merge
# $3: destination directory
# $4: literal "copy" or "hardlink" to copy or hardlink files from src to dest
# example:
#   $(call per-package-rsync,$(sort $(PACKAGES)),target,$(TARGET_DIR),copy)
define per-package-rsync
	$(call _ppd-mkdir,$(3))
	$(if $(strip $(1)),\
		$(if $(filter hardlink,$(4)),\
			$(Q)+$(_ppd) prepare $(_ppd-opts) $(_ppd-link-mode) $(_ppd-prepare-opts) \
				--per-package-dir $(PER_PACKAGE_DIR) --$(2)-dir $(3) $(1),\
			$(Q)+$(_ppd) finalize $(_ppd-opts) $(_ppd-finalize-link-mode) \
				$(PPD_FINALIZE_OPTS) \
				--per-package-dir $(PER_PACKAGE_DIR) --tree $(2) --dest $(3) \
				--mode copy $(1)))
endef

# In the configure step (the only one with POST_PREPARE_HOOKS), the path
# fixup runs inside ppd prepare, which records the rewritten files in the
# manifest: ppd file-list then takes its "before" state from the manifest
# alone, as Buildroot's pkg_size_before sees the tree after the hooks. ppd
# prepare runs there even for an empty list, to write that manifest. The
# dependencies' files are the same inodes step after step (the toolchain's
# sysroot alone is in every tree): with the scan cache each is read once
# per build, not once per package (docs/fixup.md, "The cache"). The same
# shell line then takes the images list's "before" record (see
# pkg_size_before): one line and one shell fewer per package.
_ppd-configure-step = $(and $(filter .stamp_configured,$(notdir $@)),\
	$(filter PPD_FIXUP_PATHS,$($(PKG)_POST_PREPARE_HOOKS)))

# prepare-per-package-directory -- fill the running package's per-package
# host and target trees from its dependencies, as hard links
# $1: space-separated list of packages to merge from, in this order
# example: $(call prepare-per-package-directory,$($(PKG)_FINAL_DEPENDENCIES))
define prepare-per-package-directory
	$(if $(_ppd-makes-trees),,$(call _ppd-mkdir,$(HOST_DIR) $(TARGET_DIR)))
	$(if $(strip $(1) $(_ppd-configure-step) $(_ppd-makes-trees)),\
		$(Q)+$(_ppd) prepare $(_ppd-opts) $(_ppd-link-mode) $(_ppd-prepare-opts) \
			--per-package-dir $(PER_PACKAGE_DIR) \
			$(if $(_ppd-configure-step),--pkg $($(PKG)_NAME) --fixup-paths \
				$(if $(PPD_FIXUP_CACHE),--fixup-cache $(PPD_FIXUP_CACHE))) \
			--host-dir $(HOST_DIR) --target-dir $(TARGET_DIR) $(1) \
			$(if $(and $(_ppd-configure-step),$(BINARIES_DIR)),&& $(_ppd-images-snapshot)))
endef

# The path fixup of the configure step already ran in ppd prepare (above).
define PPD_FIXUP_PATHS
endef
endif # _ppd-br-prepare

ifeq ($(_ppd-br-pyc),y)
# PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC -- remove python's compiled
# sysconfigdata, which embeds per-package paths. Buildroot walks the whole
# host tree with find for it in every configure step; the same files are
# only ever below $(HOST_DIR)/lib/python* and $(STAGING_DIR)/usr/lib/python*,
# so only those are searched (the shell glob is expanded when the line runs,
# after prepare: a package without python costs no process). Removing a
# name unlinks it from this tree only; the dependency keeps its file.
define PPD_PYTHON_REMOVE_SYSCONFIGDATA_PYC
	$(Q)for d in $(HOST_DIR)/lib/python* $(STAGING_DIR)/usr/lib/python*; do \
		if [ -d "$$d" ] && [ ! -L "$$d" ]; then \
			find "$$d" -name '_sysconfigdata*.pyc' -delete || exit 1; fi; done
endef
endif # _ppd-br-pyc

ifeq ($(_ppd-br-prepare),y)
# ppd-fixup-paths -- rewrite other packages' per-package paths in the text
# files of $(HOST_DIR)
# $1: the new root that $(PER_PACKAGE_DIR)/<pkg> becomes
# example: $(call ppd-fixup-paths,$(BASE_DIR))
define ppd-fixup-paths
	$(Q)+$(_ppd) fixup-paths $(_ppd-opts) --per-package-dir $(PER_PACKAGE_DIR) \
		--new-root $(1) $(HOST_DIR)
endef
else
# ppd.mk's ppd-fixup-paths replaced Buildroot's above: Buildroot's back.
define _ppd-newline


endef
$(eval define ppd-fixup-paths$(_ppd-newline)$(_ppd-br-ppd-fixup-paths)$(_ppd-newline)endef)
endif # _ppd-br-prepare

# pkg_size_before / pkg_size_after -- Buildroot's per-package file lists.
# The target, staging and host lists come from one ppd file-list at the end
# of the install steps, which takes "before" from the manifest prepare wrote
# (no walk at configure). The images list is a before/after record of the
# global $(BINARIES_DIR), as in Buildroot. The lists are byte-identical to
# Buildroot's; ppd file-list also reports the dependency files the package
# overwrote or edited in place.
# The images record is taken on the configure step's prepare line (above);
# a package whose configure step has no path fixup (it removed
# PPD_FIXUP_PATHS from its POST_PREPARE_HOOKS) takes it here. After the
# install steps, the first pkg_size_after call writes every list and then,
# in the same process, runs the architecture check on the target list it
# wrote (--check-bin-arch; check_bin_arch, which Buildroot calls next, is
# then empty).
ifeq ($(_ppd-br-file-list),y)
# $1: base directory to search in
# $2: suffix of file (optional)
define pkg_size_before
	$(if $(and $(filter -images,$(2)),$(if $(and $(_ppd-configure-step),$(BINARIES_DIR)),,y)),\
		$(Q)+$(_ppd-images-snapshot))
endef
_ppd-images-snapshot = $(_ppd) file-list $(_ppd-opts) --pkg $($(PKG)_NAME) \
	--images-dir $(BINARIES_DIR) --snapshot --out-dir $($(PKG)_DIR)

define pkg_size_after
	$(if $(2),,\
		$(Q)+$(_ppd) file-list $(_ppd-opts) --per-package-dir $(PER_PACKAGE_DIR) \
			--pkg $($(PKG)_NAME) --staging-subdir $(STAGING_SUBDIR) \
			--images-dir $(BINARIES_DIR) --out-dir $($(PKG)_DIR) \
			$(if $(PPD_MAKE_NOEXEC)$(filter-out y,$(_ppd-br-bin-arch)),,\
				$(_ppd-bin-arch-opts)))
endef
endif # _ppd-br-file-list

ifeq ($(_ppd-br-bin-arch),y)
# check_bin_arch -- the architecture of the package's target files, checked
# by ppd file-list in pkg_size_after above (it changes nothing: not under
# make -n); ppd check-bin-arch on its own line when the file lists stay
# Buildroot's
define check_bin_arch
	$(if $(filter y,$(_ppd-br-file-list)),,$(Q)$(_ppd-check-bin-arch))
endef
_ppd-bin-arch-opts = --check-bin-arch $(BR2_READELF_ARCH_NAME) \
	$(foreach i,$($(PKG)_BIN_ARCH_EXCLUDE),-i "$(i)")
_ppd-check-bin-arch = $(_ppd) check-bin-arch $(PPD_OPTS) -p $($(PKG)_NAME) \
	-l $($(PKG)_DIR)/.files-list.txt \
	$(foreach i,$($(PKG)_BIN_ARCH_EXCLUDE),-i "$(i)") \
	-a $(BR2_READELF_ARCH_NAME) --target-dir $(TARGET_DIR)
endif # _ppd-br-bin-arch

ifeq ($(_ppd-br-host-rpath),y)
# check_host_rpath -- Buildroot's instrumentation hook, on ppd check-rpath
# $1: start or end
# $2: the step name
# $3: the package name
define check_host_rpath
	$(call ppd_check_host_rpath,$(1),$(2),$(3))
endef
endif

ifeq ($(PPD_UNSHARE)$(_ppd-br-hooks),yy)
# ppd_unshare -- instrumentation hook for packages installed before (their
# file lists exist; a first build runs nothing):
# - at the start of the configure step (a -reconfigure), before the
#   re-prepare, the files and symlinks the package installed are removed
#   from its trees (and directories left empty), so the trees start from
#   what the dependencies provide, as in a clean build: a file the package
#   stops installing does not linger, a dependency file it had replaced
#   comes back;
# - at the start of its build and install steps (a -rebuild, -reinstall),
#   the files it installed that other trees share get a private inode, so an
#   install writing into an existing file changes only this package's copy.
# $1: start or end
# $2: the step name
# $3: the package name
define ppd_unshare
	$(if $(filter start,$(1)),$(if $(filter configure build install-host \
		install-staging install-target,$(2)),$(if $(wildcard \
		$($(PKG)_DIR)/.files-list*.txt),$(Q)+$(_ppd) unshare $(_ppd-opts) \
		$(if $(filter configure,$(2)),--remove) \
		--per-package-dir $(PER_PACKAGE_DIR) --pkg $(3) \
		--staging-subdir $(STAGING_SUBDIR) --list-dir $($(PKG)_DIR))))
endef
GLOBAL_INSTRUMENTATION_HOOKS += ppd_unshare
endif

# ppd-outdated -- the packages whose per-package trees hold copies that
# differ from what their dependencies provide now (after a -rebuild), and the
# make command that refreshes them
.PHONY: ppd-outdated
ppd-outdated:
	$(Q)$(_ppd) outdated $(PPD_OPTS) --per-package-dir $(PER_PACKAGE_DIR)

ifeq ($(_ppd-br-fix-rpath),y)
# fix-rpath: host-finalize and target-finalize run
# $(TOPDIR)/support/scripts/fix-rpath by path, in a recipe that make does not
# let us replace without a warning. For these targets only (private: not
# for their prerequisites), TOPDIR names a shadow of the Buildroot tree in
# which support/scripts/fix-rpath runs ppd fix-rpath and every other entry is
# a symlink to the real one, so anything else a finalize hook reaches
# through $(TOPDIR) is the real file.
PPD_TOPDIR = $(BASE_DIR)/.ppd-topdir
_ppd-real-topdir := $(TOPDIR)

# prepare-sdk ran fix-rpath host and staging before Buildroot 2024.02.7 and
# 2024.08.1.
host-finalize target-finalize prepare-sdk: private TOPDIR = $(PPD_TOPDIR)
host-finalize target-finalize prepare-sdk: | $(PPD_TOPDIR)/support/scripts/fix-rpath
# Variables that name a path through $(TOPDIR) would name the shadow in these
# recipes. BR2_DL_DIR is one: .config's default is "$(TOPDIR)/dl", and
# EXTRA_ENV hands it to the post-build scripts (run by target-finalize) and
# the finalize hooks. It keeps the value it has everywhere else (expanded
# here, with the real TOPDIR). Paths a hook builds from $(TOPDIR) itself
# reach the real files through the shadow's symlinks.
# (Taken into a global variable first: with make 4.3, a target-specific ':='
# naming the variable it defines still gave the shadow's path.)
ifneq ($(findstring $$(TOPDIR),$(value BR2_DL_DIR)),)
_ppd-real-dl-dir := $(BR2_DL_DIR)
host-finalize target-finalize prepare-sdk: private BR2_DL_DIR = $(_ppd-real-dl-dir)
endif

# $1: a directory of the real tree; $2: its shadow; $3: the entry to leave out
define _ppd-shadow-dir
	mkdir -p $(2) && for e in $(1)/* $(1)/.[!.]*; do \
		n=$${e##*/}; [ -e "$$e" ] || [ -L "$$e" ] || continue; \
		[ "$$n" = "$(3)" ] || ln -sfn "$$e" "$(2)/$$n" || exit 1; done
endef

$(PPD_TOPDIR)/support/scripts/fix-rpath: $(_ppd-buildroot-mk) \
		$(_ppd-real-topdir)/support/scripts $(_ppd-real-topdir)/support
	$(Q)rm -rf $(PPD_TOPDIR).tmp
	$(Q)$(call _ppd-shadow-dir,$(_ppd-real-topdir),$(PPD_TOPDIR).tmp,support)
	$(Q)$(call _ppd-shadow-dir,$(_ppd-real-topdir)/support,$(PPD_TOPDIR).tmp/support,scripts)
	$(Q)$(call _ppd-shadow-dir,$(_ppd-real-topdir)/support/scripts,$(PPD_TOPDIR).tmp/support/scripts,fix-rpath)
	$(Q)printf '#!/bin/sh\n# ppd mk/buildroot.mk: Buildroot'"'"'s fix-rpath, on ppd\nexec %s fix-rpath $(PPD_OPTS) "$$@"\n' \
		'$(strip $(PPD_LAUNCHER) $(if $(findstring /,$(PPD)),$(abspath $(PPD)),$(PPD)))' \
		> $(PPD_TOPDIR).tmp/support/scripts/fix-rpath
	$(Q)chmod 755 $(PPD_TOPDIR).tmp/support/scripts/fix-rpath
	$(Q)rm -rf $(PPD_TOPDIR) && mv $(PPD_TOPDIR).tmp $(PPD_TOPDIR)
endif

endif # BR2_PER_PACKAGE_DIRECTORIES
