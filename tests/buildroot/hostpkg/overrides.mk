# BR2_PACKAGE_OVERRIDE_FILE for an offline build: host-patchelf, host-tar,
# host-fakeroot and host-pkgconf install the build machine's programs (see
# hostpkg/*/Makefile).
PATCHELF_OVERRIDE_SRCDIR = $(BR2_EXTERNAL_PPDTEST_PATH)/../hostpkg/patchelf
TAR_OVERRIDE_SRCDIR = $(BR2_EXTERNAL_PPDTEST_PATH)/../hostpkg/tar
FAKEROOT_OVERRIDE_SRCDIR = $(BR2_EXTERNAL_PPDTEST_PATH)/../hostpkg/fakeroot
PKGCONF_OVERRIDE_SRCDIR = $(BR2_EXTERNAL_PPDTEST_PATH)/../hostpkg/pkgconf
# The machine's fakeroot needs no host-acl (a download): this file is read
# before package/fakeroot/fakeroot.mk, and 'override' keeps its assignment.
override HOST_FAKEROOT_DEPENDENCIES =
# Buildroot 2025.02's fakeroot.mk autoreconfigures its source (later ones
# do not); the machine's stand-in has nothing to autoreconfigure.
override HOST_FAKEROOT_AUTORECONF = NO
# host-mkpasswd (Buildroot's own source) links the machine's libcrypt
# instead of host-libxcrypt (a download).
override HOST_MKPASSWD_DEPENDENCIES =
