################################################################################
#
# fwblob
#
################################################################################

FWBLOB_VERSION = 1.0
FWBLOB_BIN_ARCH_EXCLUDE = /usr/share/fwblob /lib/firmware/ppdtest
$(eval $(call ppdtest-target-make,FWBLOB,fwblob))
$(eval $(generic-package))
