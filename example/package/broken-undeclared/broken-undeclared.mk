################################################################################
#
# broken-undeclared
#
################################################################################

# A program whose sources use libjson without declaring it: with
# per-package directories libjson is not in its directory, so its build
# fails even when libjson was built before. Not part of PACKAGES; build it
# with 'make broken-undeclared' to see the failure.
BROKEN_UNDECLARED_DEPENDENCIES = libbase
BROKEN_UNDECLARED_LIBS = libbase libjson
BROKEN_UNDECLARED_ENABLED = NO

$(eval $(capp-package))
