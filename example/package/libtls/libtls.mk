################################################################################
#
# libtls
#
################################################################################

LIBTLS_VERSION = 3.0
LIBTLS_DEPENDENCIES = libcrypt libnet
LIBTLS_CONFIG_SCRIPT = YES

$(eval $(clib-package))
