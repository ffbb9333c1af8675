################################################################################
#
# libcrypt
#
################################################################################

LIBCRYPT_VERSION = 3.1
LIBCRYPT_DEPENDENCIES = libhash
LIBCRYPT_CONFIG_SCRIPT = YES

$(eval $(clib-package))
