################################################################################
#
# libxml
#
################################################################################

LIBXML_VERSION = 2.9
LIBXML_DEPENDENCIES = libstr libfmt
LIBXML_CONFIG_SCRIPT = YES

$(eval $(clib-package))
