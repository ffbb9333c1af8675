# BR2_PACKAGE_OVERRIDE_FILE for an offline build: host-patchelf and
# host-tar install the build machine's programs (see hostpkg/*/Makefile).
PATCHELF_OVERRIDE_SRCDIR = $(BR2_EXTERNAL_PPDTEST_PATH)/../hostpkg/patchelf
TAR_OVERRIDE_SRCDIR = $(BR2_EXTERNAL_PPDTEST_PATH)/../hostpkg/tar
