################################################################################
#
# ppd.mk -- make functions that run ppd for per-package directory builds
#
# Include this file from a Buildroot-style tree (one where HOST_DIR, TARGET_DIR
# and STAGING_DIR switch to $(PER_PACKAGE_DIR)/<pkg>/{host,target} inside a
# package's recipes through a target-specific PKG) and call the functions
# below from recipes. Each one expands to recipe lines that start with '+':
# GNU make then hands its jobserver to ppd (make 4.3 passes the pipe only to
# such lines), and ppd sizes its thread pool from the free tokens. The other
# side of '+' is that these lines also run under 'make -n', '-q' and '-t'.
# ppd reads MAKEFLAGS and then changes nothing: under -n it prints the
# operations a real run would perform (these lines also pass --dry-run),
# and a dependency tree that does not exist yet is reported as "would be
# prepared after <dep> is built", status 0; under -q and -t it does nothing
# and prints nothing, status 0 (make reports and touches the targets).
#
# Functions ($(call) them in a recipe; they read HOST_DIR, TARGET_DIR,
# STAGING_DIR and PER_PACKAGE_DIR when the recipe runs):
#   ppd-prepare           fill the running package's trees from dependencies
#   ppd-fixup-paths       rewrite per-package paths in host text files
#   ppd-finalize          merge packages' trees into a final tree
#   ppd-host-finalize     Buildroot's host-finalize: merge, fix-rpath, fixup
#   ppd-target-finalize   Buildroot's target-finalize merge and fix-rpath
#   ppd-fix-rpath         rewrite RPATHs of the host, staging or target tree
#   ppd-check-rpath       check host executables' RPATHs
#   ppd_check_host_rpath  the same, as a GLOBAL_INSTRUMENTATION_HOOKS hook
#   ppd-audit-rpath       audit every ELF file of a tree
#   ppd-file-list         write a package's .files-list*.txt
#
# Variables:
#   PPD            the ppd binary (default: ppd from PATH)
#   PPD_OPTS       options added to every call, e.g. -v for a stats line
#   PPD_PREPARE_OPTS, PPD_FINALIZE_OPTS
#                  options for ppd prepare and ppd finalize only, e.g.
#                  --conflicts ignore
#   PPD_LINK_MODE  how ppd prepare places dependencies' files: auto (ppd's
#                  default: the best the filesystem supports), hardlink,
#                  reflink or snapshot (btrfs); with snapshot set here, ppd
#                  also creates the trees of packages without dependencies
#                  (as btrfs subvolumes, so that the packages built on them
#                  can snapshot them)
#   PPD_FINALIZE_LINK_MODE
#                  how ppd finalize writes a copy's data: auto, reflink
#                  (a clone per file) or copy (never sharing blocks)
#   PPD_LAUNCHER   a command prefix for every call, e.g. a timing wrapper
#                  (see PPD_MAKE_NOEXEC below)
#   Q              '@' to keep the commands quiet, as in Buildroot
#
################################################################################

PPD ?= ppd
PPD_MK_INCLUDED := y
PPD_OPTS ?=
PPD_PREPARE_OPTS ?=
PPD_FINALIZE_OPTS ?=
PPD_LAUNCHER ?=
PPD_LINK_MODE ?=
PPD_FINALIZE_LINK_MODE ?=

# The --link-mode options, and whether ppd makes even a tree without
# dependencies (a btrfs subvolume in snapshot or auto mode).
_ppd-link-mode = $(if $(PPD_LINK_MODE),--link-mode $(PPD_LINK_MODE))
_ppd-finalize-link-mode = $(if $(PPD_FINALIZE_LINK_MODE),--link-mode $(PPD_FINALIZE_LINK_MODE))
_ppd-makes-trees = $(filter snapshot,$(PPD_LINK_MODE))

# The single-letter flags make runs with: GNU make puts them together in
# the first word of MAKEFLAGS ('n', 'kn', 'ns -j2 --jobserver-auth=3,4'),
# and starts MAKEFLAGS with a space when there are none (' -j2 ...',
# ' -- O=out').
_ppd-make-flags = $(filter-out -%,$(firstword $(MAKEFLAGS)))

# PPD_MAKE_NOEXEC -- non-empty under 'make -n', '-q' or '-t', where make
# runs no recipe line except those marked '+' (such as ppd's). ppd reads
# MAKEFLAGS itself and then changes nothing: under -n it prints what it
# would do (as with --dry-run), under -q and -t it does nothing, prints
# nothing and exits 0. Use this variable to keep other commands on '+'
# lines out of such runs, e.g. a launcher that logs or is itself built by
# the make run: PPD_LAUNCHER = $(if $(PPD_MAKE_NOEXEC),,my-wrapper)
PPD_MAKE_NOEXEC = $(strip $(foreach f,n q t,$(findstring $(f),$(_ppd-make-flags))))

# The command and the options every call gets. Under 'make -n' the command
# line make prints says --dry-run too. check-rpath changes nothing, so it
# takes no --dry-run and gets only $(PPD_OPTS).
_ppd = $(PPD_LAUNCHER) $(PPD)
_ppd-opts = $(PPD_OPTS)$(if $(findstring n,$(_ppd-make-flags)),\
	--dry-run)

# _ppd-mkdir -- 'mkdir -p' of the directories $1, left out under make -n,
# -q and -t (ppd's dry run says which directories it would create). GNU
# make runs a recipe line under -n once a '+' line came from the same
# line of the makefile, for every target of the rule from then on (it
# keeps one flag per unexpanded line): a define like per-package-rsync,
# whose mkdir and '+ppd' lines are one line of Buildroot's pattern rules,
# would otherwise create directories under make -n that Buildroot's own
# macros leave alone.
_ppd-mkdir = $(if $(PPD_MAKE_NOEXEC),,$(Q)mkdir -p $(1))

# ppd-prepare -- fill the running package's per-package host and target trees
# from its dependencies' trees, as hard links (Buildroot's
# prepare-per-package-directory, in one process instead of one rsync per
# dependency and tree)
# $1: space-separated dependencies, merged in this order (the last one wins a
#     path; Buildroot passes them sorted)
# $2: optional: "fixup" to also rewrite other packages' per-package paths in
#     the host tree's text files in the same pass (needs a package recipe:
#     the new root is $(PER_PACKAGE_DIR)/$($(PKG)_NAME)); ppd then runs
#     even for an empty list, to record an empty manifest for ppd-file-list
# Without "fixup", an empty list only creates the directories.
# example: $(call ppd-prepare,$(LIBFOO_FINAL_DEPENDENCIES),fixup)
define ppd-prepare
	$(Q)$(if $(strip $(1) $(filter fixup,$(2)) $(_ppd-makes-trees)),\
		+$(_ppd) prepare $(_ppd-opts) $(_ppd-link-mode) $(PPD_PREPARE_OPTS) \
		--per-package-dir $(PER_PACKAGE_DIR) \
		$(if $(filter fixup,$(2)),--pkg $($(PKG)_NAME) --fixup-paths) \
		--host-dir $(HOST_DIR) --target-dir $(TARGET_DIR) $(1),\
		$(if $(PPD_MAKE_NOEXEC),,mkdir -p $(HOST_DIR) $(TARGET_DIR)))
endef

# ppd-fixup-paths -- rewrite $(PER_PACKAGE_DIR)/<any package>/ to a new root
# in the text files of $(HOST_DIR) (Buildroot's ppd-fixup-paths, same
# argument). Files are replaced through a temporary file, never written in
# place, so the dependencies' hard-linked copies stay intact.
# $1: the new root, e.g. $(PER_PACKAGE_DIR)/$($(PKG)_NAME) or $(BASE_DIR)
# example: $(call ppd-fixup-paths,$(BASE_DIR))
define ppd-fixup-paths
	$(Q)+$(_ppd) fixup-paths $(_ppd-opts) --per-package-dir $(PER_PACKAGE_DIR) \
		--new-root $(1) $(HOST_DIR)
endef

# ppd-finalize -- merge packages' per-package trees into one final tree
# (Buildroot's per-package-rsync in copy mode)
# $1: space-separated packages, merged in this order (the last one wins a
#     path; Buildroot passes $(sort $(PACKAGES)))
# $2: which tree of each package: host or target
# $3: the destination directory
# $4: optional: copy (default: new inodes, the per-package trees stay safe
#     from later edits) or hardlink
# example: $(call ppd-finalize,$(sort $(PACKAGES)),target,$(TARGET_DIR))
define ppd-finalize
	$(call _ppd-mkdir,$(3))
	$(Q)$(if $(strip $(1)),+$(_ppd) finalize $(_ppd-opts) $(PPD_FINALIZE_OPTS) \
		--per-package-dir $(PER_PACKAGE_DIR) --tree $(2) --dest $(3) \
		$(if $(4),--mode $(4)) $(if $(filter hardlink,$(4)),,$(_ppd-finalize-link-mode)) $(1))
endef

# ppd-host-finalize -- assemble the final host tree the way Buildroot's
# host-finalize does: merge (copy), fix RPATHs in host and staging, then
# rewrite per-package paths to the final location
# $1: the packages ($(PACKAGES); they are sorted here)
# $2: optional: the new root for the path fixup (default: $(BASE_DIR))
# example: $(call ppd-host-finalize,$(PACKAGES))
define ppd-host-finalize
	$(call ppd-finalize,$(sort $(1)),host,$(HOST_DIR))
	$(call ppd-fix-rpath,host)
	$(call ppd-fix-rpath,staging)
	$(call ppd-fixup-paths,$(or $(2),$(BASE_DIR)))
endef

# ppd-target-finalize -- merge the final target tree (copy) and fix its
# RPATHs; the rest of Buildroot's target-finalize (hooks, strip, overlays,
# post-build scripts) goes between the two in a real tree
# $1: the packages ($(PACKAGES); they are sorted here)
# example: $(call ppd-target-finalize,$(PACKAGES))
define ppd-target-finalize
	$(call ppd-finalize,$(sort $(1)),target,$(TARGET_DIR))
	$(call ppd-fix-rpath,target)
endef

# ppd-fix-rpath -- rewrite the RPATHs of one tree like Buildroot's
# support/scripts/fix-rpath: per-package host paths become $(HOST_DIR), then
# relative ($ORIGIN in host, root-relative in staging and target)
# $1: host, staging or target
# example: $(call ppd-fix-rpath,target)
define ppd-fix-rpath
	$(Q)+$(_ppd) fix-rpath $(_ppd-opts) --tree $(1) --host-dir $(HOST_DIR) \
		--staging-dir $(STAGING_DIR) --target-dir $(TARGET_DIR) \
		$(if $(PER_PACKAGE_DIR),--per-package-dir $(PER_PACKAGE_DIR))
endef

# ppd-check-rpath -- check that the host executables in $(HOST_DIR)/bin and
# sbin that need a library from $(HOST_DIR)/lib carry an RPATH that finds
# it (Buildroot's check-host-rpath: same rule, same messages, exit 1)
# $1: the package name used in the messages
# $2: optional: the host directory (default: $(HOST_DIR))
# $3: optional: the per-package directory root whose <pkg>/host/lib entries
#     are accepted (default: $(PER_PACKAGE_DIR)); "none" accepts only
#     $(HOST_DIR)/lib and $ORIGIN/../lib, as for a final host tree
# example: $(call ppd-check-rpath,host-foo)
define ppd-check-rpath
	$(Q)+$(_ppd) check-rpath $(PPD_OPTS) --host-dir $(or $(2),$(HOST_DIR)) \
		$(call _ppd-dir-opt,$(or $(3),$(PER_PACKAGE_DIR))) $(1)
endef
_ppd-dir-opt = $(if $(filter-out none,$(1)),--per-package-dir $(1))

# ppd-audit-rpath -- audit the RPATHs and library lookups of the ELF files
# in a tree against the full rule set (exit 1 on errors)
# $1: the root that absolute RPATH entries and DT_NEEDED resolve in
# $2: optional: the files and directories to audit (default: $1)
# example: $(call ppd-audit-rpath,$(TARGET_DIR))
define ppd-audit-rpath
	$(Q)+$(_ppd) check-rpath $(PPD_OPTS) --audit --root $(1) $(or $(2),$(1))
endef

# ppd_check_host_rpath -- instrumentation hook running ppd-check-rpath at the
# end of each host package's install step (Buildroot's check_host_rpath)
# $1: start or end
# $2: the step name
# $3: the package name
# example: GLOBAL_INSTRUMENTATION_HOOKS += ppd_check_host_rpath
define ppd_check_host_rpath
	$(if $(filter install-host,$(2)),$(if $(filter end,$(1)),\
		$(call ppd-check-rpath,$(3))))
endef

# ppd-file-list -- write the running package's .files-list.txt,
# .files-list-staging.txt and .files-list-host.txt (Buildroot's format:
# "<pkg>,./<path>" per file or symlink the package installed itself), at the
# end of its install step
# $1: the package name
# $2: the package's build directory, where the lists go
# example: $(call ppd-file-list,$($(PKG)_NAME),$($(PKG)_DIR))
define ppd-file-list
	$(Q)+$(_ppd) file-list $(_ppd-opts) --per-package-dir $(PER_PACKAGE_DIR) \
		--pkg $(1) --staging-subdir $(STAGING_SUBDIR) --out-dir $(2)
endef
