################################################################################
#
# Helpers for the example's package infrastructure (Buildroot's
# support/misc/utils.mk, trimmed to what the example uses)
#
################################################################################

# Separates hook calls in $(foreach): each one becomes its own recipe line.
define sep


endef

# UPPERCASE -- turn a package name into its variable prefix
# $1: package name, e.g. host-libfoo
# example: $(call UPPERCASE,host-libfoo) gives HOST_LIBFOO
UPPERCASE = $(strip $(eval __tmp := $(1))$(foreach c,\
	a:A b:B c:C d:D e:E f:F g:G h:H i:I j:J k:K l:L m:M n:N o:O p:P q:Q r:R s:S \
	t:T u:U v:V w:W x:X y:Y z:Z -:_ .:_,$(eval __tmp := \
	$(subst $(word 1,$(subst :, ,$c)),$(word 2,$(subst :, ,$c)),$(__tmp))))$(__tmp))

# MESSAGE -- announce a step of the package whose recipe runs
# $1: message
MESSAGE = echo ">>> $($(PKG)_NAME) $(1)"

# example-timed-start, example-timed-end -- log the wall time of the shell
# commands between them (same recipe line) to $(EXAMPLE_TIMING_LOG), as
# "<operation> <microseconds>". bash's EPOCHREALTIME costs no fork.
# $1 (end only): operation name
# example: $(example-timed-start) rsync ... $(call example-timed-end,prepare)
ifeq ($(EXAMPLE_TIMING),y)
example-timed-start = _t0=$${EPOCHREALTIME/./};
example-timed-end = ; _rc=$$?; \
	echo "$(1) $$(( $${EPOCHREALTIME/./} - _t0 ))" >>$(EXAMPLE_TIMING_LOG); (exit $$_rc)
# ppd runs under a small C wrapper that does the same, so that its recipe
# lines can still start with '+' (make hands the jobserver only to those).
# Under make -n, -q and -t make runs those lines but builds no wrapper, and
# nothing may be logged: ppd then runs without it (PPD_MAKE_NOEXEC, mk/ppd.mk).
EXAMPLE_TIMED := $(BASE_DIR)/tools/timed
PPD_LAUNCHER = $(if $(PPD_MAKE_NOEXEC),,\
	EXAMPLE_TIMING_LOG=$(EXAMPLE_TIMING_LOG) $(EXAMPLE_TIMED))
$(EXAMPLE_TIMED): $(EXAMPLE_SUPPORT)/timed.c
	$(Q)mkdir -p $(@D)
	$(Q)$(HOSTCC) -O2 -Wall -o $@ $<
endif
