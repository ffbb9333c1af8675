################################################################################
#
# libcfg
#
################################################################################

LIBCFG_VERSION = 0.4
LIBCFG_DEPENDENCIES = libstr liblog
LIBCFG_CONFIG_SCRIPT = YES

$(eval $(clib-package))
