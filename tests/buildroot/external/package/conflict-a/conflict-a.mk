################################################################################
#
# conflict-a
#
################################################################################

CONFLICT_A_VERSION = 1.0
$(eval $(call ppdtest-target-make,CONFLICT_A,conflict-a))
$(eval $(generic-package))
