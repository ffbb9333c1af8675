################################################################################
#
# conflict-b
#
################################################################################

CONFLICT_B_VERSION = 1.0
$(eval $(call ppdtest-target-make,CONFLICT_B,conflict-b))
$(eval $(generic-package))
