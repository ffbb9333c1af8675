################################################################################
#
# Buildroot's per-package directory macros (package/pkg-utils.mk), as they
# are upstream: one rsync per dependency, a grep | file | sed path fixup and
# a single --files-from rsync for the final trees. PPD_BACKEND=rsync uses
# them as they are; PPD_BACKEND=buildroot includes mk/buildroot.mk after this
# file, which redefines the same three macros on top of ppd; PPD_BACKEND=ppd
# does not include this file (mk/ppd.mk's functions do everything).
#
# The only change from upstream is the timing prefix and suffix on each line,
# so that the example can report the time spent in these operations, each
# under the name of what ran ("rsync --link-dest (prepare)").
#
################################################################################

# per-package-rsync -- rsync the per-package trees of packages into dest
# $1: space-separated list of packages to rsync from
# $2: 'host' or 'target': the tree to rsync
# $3: destination directory
# $4: literal "copy" or "hardlink" to copy or hardlink files from src to dest
# example: $(call per-package-rsync,$(sort $(PACKAGES)),target,$(TARGET_DIR),copy)
define per-package-rsync
	$(Q)mkdir -p $(3)
	$(if $(filter hardlink,$(4)), \
		$(foreach pkg,$(1),\
			$(Q)$(example-timed-start) rsync -a \
				--hard-links \
				--link-dest=$(PER_PACKAGE_DIR)/$(pkg)/$(2)/ \
				$(PER_PACKAGE_DIR)/$(pkg)/$(2)/ \
				$(3) $(call example-timed-end,rsync --link-dest (prepare))$(sep)), \
		$(Q)$(example-timed-start) printf "%s/$(2)/\n" $(1) \
			| tac \
			| rsync -a --hard-links --files-from=- --no-R -r \
				$(PER_PACKAGE_DIR) $(3) $(call example-timed-end,rsync --files-from (finalize)))
endef

# prepare-per-package-directory -- fill the running package's per-package
# host and target trees from its dependencies
# $1: space-separated list of packages to rsync from
# example: $(call prepare-per-package-directory,$(LIBFOO_FINAL_DEPENDENCIES))
define prepare-per-package-directory
	$(call per-package-rsync,$(1),host,$(HOST_DIR),hardlink)
	$(call per-package-rsync,$(1),target,$(TARGET_DIR),hardlink)
endef

# ppd-fixup-paths -- rewrite other packages' per-package paths in the text
# files of $(HOST_DIR)
# $1: the new root that $(PER_PACKAGE_DIR)/<pkg> becomes
# example: $(call ppd-fixup-paths,$(BASE_DIR))
define ppd-fixup-paths
	$(Q)$(example-timed-start) grep --binary-files=without-match -lrZ '$(PER_PACKAGE_DIR)/[^/]\+/' $(HOST_DIR) \
	|while read -d '' f; do \
		file -b --mime-type "$${f}" | grep -q '^text/' || continue; \
		printf '%s\0' "$${f}"; \
	done \
	|xargs -0 --no-run-if-empty \
		sed -i -e 's:$(PER_PACKAGE_DIR)/[^/]\+/:$(1)/:g' $(call example-timed-end,grep|file|sed (fixup-paths))
endef
