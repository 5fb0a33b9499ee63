# mtlsd: mutual-TLS sidecar.  `make` builds build/mtlsd and build/mtlsd-bench.
#
#   make            build (needs the dependencies: `make deps`)
#   make test       install missing dependencies, build, run every suite
#   make asan       the whole suite under AddressSanitizer + UBSan
#   make valgrind   the unit suites under valgrind's memcheck
#   make test-repeat N=20   make test's suites N times in a row, a tally per run
#   make soak       heavy scenarios with their figures (tests/soak/run.sh; not in make test)
#   make fuzz       libFuzzer targets (tests/fuzz/, clang), FUZZ_SECONDS each (60)
#   make fuzz-long  every target FUZZ_CPU_MINUTES of CPU (30), then line coverage
#   make demo       throwaway certificates, a sidecar pair, 256 MiB through it
#   make bench      side-by-side benchmark against stunnel, hitch, haproxy
#   make deps       scripts/install-deps.sh (only what is missing)
#   make install    PREFIX=/usr/local DESTDIR=  (see the install block below)
#   make deb        a Debian package in build/deb/
#   make clean

BUILD   ?= build
CC      ?= cc
SAN     ?=
PKGS    := libevent_core libevent_extra inih mbedtls mbedx509 mbedcrypto libgcrypt

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-missing-field-initializers
ifeq ($(CI),true)
WARN    += -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -I.
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) -MMD -MP -pthread $(SAN)
LDFLAGS += -pthread $(SAN)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
             echo -levent_core -levent_extra -linih -lmbedtls -lmbedx509 -lmbedcrypto -lgcrypt)

CONFIG_SRC := $(wildcard config/*.c)
TLS_SRC    := $(wildcard tls/*.c)
CERTS_SRC  := $(wildcard certs/*.c)
PROXY_SRC  := $(filter-out proxy/main.c,$(wildcard proxy/*.c))
BENCH_SRC  := $(wildcard bench/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
# tests/unit's helpers (the throwaway PKI), linked into every unit binary
# and into the fuzz targets.
UNIT_HELP  := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))

LIB_OBJ    := $(patsubst %.c,$(BUILD)/obj/%.o,$(CONFIG_SRC) $(TLS_SRC) $(CERTS_SRC) $(PROXY_SRC))
MAIN_OBJ   := $(BUILD)/obj/proxy/main.o
BENCH_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(BENCH_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all test test-repeat units asan valgrind soak fuzz fuzz-build fuzz-long demo bench deps deps-check clean
all: $(BUILD)/mtlsd $(BUILD)/mtlsd-bench

# Refuse an mbedTLS older than 3.6 before compiling anything.
$(BUILD)/.mbedtls-ok:
	@mkdir -p $(BUILD)
	@v=$$(printf '#include <mbedtls/build_info.h>\nMBEDTLS_VERSION_NUMBER\n' | \
	      $(CC) -E -P -x c - 2>/dev/null | tail -n 1); \
	case "$$v" in 0x*) ;; *) echo "mtlsd: mbedTLS headers not found; run 'make deps' (as root)" >&2; exit 1;; esac; \
	if [ $$(( $$v )) -lt $$(( 0x03060000 )) ]; then \
	  echo "mtlsd: mbedTLS $$v found, 3.6 LTS or newer is required; run 'make deps' (as root)" >&2; exit 1; fi
	@touch $@

$(BUILD)/obj/%.o: %.c $(BUILD)/.mbedtls-ok
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libmtlsd.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/mtlsd: $(MAIN_OBJ) $(BUILD)/libmtlsd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/mtlsd-bench: $(BENCH_OBJ) $(BUILD)/libmtlsd.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_HELP)) $(BUILD)/libmtlsd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# The dependency check is quick; install-deps.sh runs only when it fails.
deps-check:
	@pkg-config --exists $(PKGS) cmocka 2>/dev/null && \
	  command -v openssl >/dev/null && command -v curl >/dev/null && \
	  command -v python3 >/dev/null && command -v linux.uml >/dev/null && \
	  test -x /bin/busybox && dpkg -s python3-torch >/dev/null 2>&1 && \
	  dpkg -s python3-jsonschema >/dev/null 2>&1 && \
	  dpkg -s logrotate >/dev/null 2>&1 && \
	  command -v mandoc >/dev/null && command -v man >/dev/null && \
	  command -v lintian >/dev/null && command -v dpkg-shlibdeps >/dev/null && \
	  dpkg --compare-versions "$$(pkg-config --modversion mbedtls)" ge 3.6 || \
	  sh scripts/install-deps.sh

deps:
	sh scripts/install-deps.sh

test: deps-check
	$(MAKE) all units
	sh tests/run.sh $(BUILD)

units: $(UNIT_BIN)

# Flakes show up only in repetition: every suite N times, stopping at none.
N ?= 20
test-repeat: deps-check
	$(MAKE) all units
	sh tests/repeat.sh $(BUILD) $(N)

# The heavy scenarios (10,000 connections, 1,000 slowloris clients, fd
# exhaustion, a slow backend, rotation storms, hostile input) against the
# release build, a summary table at the end.  Root: a netns per scenario.
soak: deps-check
	$(MAKE) all
	bash tests/soak/run.sh $(BUILD)

# AddressSanitizer cannot map its shadow memory inside user-mode Linux, so
# the kernel-TLS suite runs a UBSan-only build (build/ubsan) there.
asan: deps-check
	$(MAKE) BUILD=build/asan SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all units
	$(MAKE) BUILD=build/ubsan SAN="-fsanitize=undefined -fno-sanitize-recover=all" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  MTLSD_KTLS_BUILD=build/ubsan sh tests/run.sh build/asan

valgrind: all units
	MTLSD_VALGRIND=1 sh tests/run.sh $(BUILD) unit

# Fuzzing: one libFuzzer binary per tests/fuzz/fuzz_NAME.c, built by clang in
# build/fuzz (the library with -fsanitize=fuzzer-no-link,address,undefined;
# gcc's build/ is untouched), then each run FUZZ_SECONDS on a scratch copy of
# tests/fuzz/corpus/NAME/ by tests/fuzz/run.sh; any crash fails.  No -Werror
# there: clang warns where gcc does not, and gcc's build is the gate.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_HELPERS := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(FUZZ_SRC),$(wildcard tests/fuzz/*.c)) $(UNIT_HELP))
FUZZ_PROBE   := int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }

fuzz: fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	@mkdir -p $(FUZZ_BUILD)
	@probe() { printf '%s\n' '$(FUZZ_PROBE)' | \
	  $(FUZZ_CC) -fsanitize=fuzzer -x c - -o $(FUZZ_BUILD)/.probe 2>/dev/null; }; \
	probe || { sh scripts/install-deps.sh && probe; } || \
	  { echo "mtlsd: make fuzz needs $(FUZZ_CC) with libFuzzer (Debian: clang, libclang-rt-dev); run 'make deps' (as root)" >&2; exit 1; }
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CI= SAN="$(FUZZ_SAN)" \
	  $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))

# A long campaign (not in CI): every target FUZZ_CPU_MINUTES of CPU time
# (30), FUZZ_JOBS at once (2), at nice 19 (tests/fuzz/long.sh), the grown
# corpora kept in build/fuzz/long/; then the line coverage those corpora
# reach in each target's own sources, from a coverage build in
# build/fuzz-cov (tests/fuzz/coverage.sh).
FUZZ_CPU_MINUTES ?= 30
FUZZ_JOBS        ?= 2
FUZZ_COV         := build/fuzz-cov
fuzz-long: fuzz-build
	$(MAKE) BUILD=$(FUZZ_COV) CC=$(FUZZ_CC) CI= \
	  SAN="-fsanitize=fuzzer-no-link -fprofile-instr-generate -fcoverage-mapping" \
	  $(addprefix $(FUZZ_COV)/fuzz_,$(FUZZ_TARGETS))
	bash tests/fuzz/long.sh $(FUZZ_BUILD) $$(( $(FUZZ_CPU_MINUTES) * 60 )) \
	  $(FUZZ_JOBS) $(FUZZ_TARGETS)
	sh tests/fuzz/coverage.sh $(FUZZ_COV) $(FUZZ_BUILD)/long $(FUZZ_TARGETS)

# Used by the sub-make above (BUILD=build/fuzz, CC=clang).
.SECONDARY: $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/fuzz/*.c) $(UNIT_HELP))
$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_HELPERS) $(BUILD)/libmtlsd.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

demo: deps-check
	$(MAKE) all
	sh scripts/demo.sh $(BUILD)

bench: all
	sh scripts/install-deps.sh --bench
	sh bench/run.sh $(BUILD)

clean:
	rm -rf build

# ---- Install and packaging: make install, uninstall, deb; mtlsd version ----
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   mtlsd, its man pages, the
#                 systemd unit, a logrotate file, the docs and examples, and
#                 /etc/mtlsd/mtlsd.ini (never overwritten, nor is the logrotate file)
#   make uninstall [PREFIX=...] [DESTDIR=]        removes them; files under /etc
#                 only where they are still the shipped ones
#   make deb      $(DEBDIR)/mtlsd_VERSION_ARCH.deb, from make install
#                 DESTDIR=$(DEBDIR)/stage PREFIX=/usr and scripts/deb/
#
# mtlsd-bench is not installed: it is the load generator of bench/run.sh,
# which runs it from the build tree beside stunnel, hitch and haproxy.
PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/mtlsd
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
DEBDIR     ?= $(BUILD)/deb
# Where this release's systemd package keeps its units (/lib on Debian 12,
# /usr/lib from 13); the package puts mtlsd.service beside them.
DEB_UNITDIR = $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null), \
  $(shell dpkg -L systemd 2>/dev/null | sed -n 's|/systemd-journald.service$$||p' | head -n 1), \
  /lib/systemd/system)

# mtlsd version: the commit (git describe; "unknown" outside git) and inih's
# version (it has no run-time call) are baked into version.o.  The stamp
# changes only when they do, so a new commit relinks mtlsd and nothing more.
MTLSD_COMMIT := $(shell test -e .git && git describe --always --dirty 2>/dev/null || echo unknown)
INIH_VERSION := $(shell pkg-config --modversion inih 2>/dev/null || echo unknown)
VERSION_STAMP := $(MTLSD_COMMIT) inih=$(INIH_VERSION)

$(BUILD)/version.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(VERSION_STAMP)' | cmp -s - $@ || echo '$(VERSION_STAMP)' > $@
$(BUILD)/obj/proxy/version.o: $(BUILD)/version.stamp
$(BUILD)/obj/proxy/version.o: CPPFLAGS += -DMTLSD_COMMIT='"$(MTLSD_COMMIT)"' \
    -DMTLSD_INIH_VERSION='"$(INIH_VERSION)"'

# install_conf SRC DST: installs a file under /etc unless one is there.
install_conf = if [ -e $(2) ]; then echo "install: kept $(2) (the shipped one is $(1))"; \
  else install -m 0644 $(1) $(2); fi
# remove_conf SRC DST: removes DST only if it is SRC unchanged.
remove_conf = if cmp -s $(1) $(2); then rm -f $(2); \
  elif [ -e $(2) ]; then echo "uninstall: kept $(2) (edited)"; fi

install: $(BUILD)/mtlsd
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/mtlsd $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	install -m 0755 $(BUILD)/mtlsd $(DESTDIR)$(SBINDIR)/mtlsd
	install -m 0644 proxy/mtlsd.8 $(DESTDIR)$(MANDIR)/man8/mtlsd.8
	install -m 0644 config/mtlsd.ini.5 $(DESTDIR)$(MANDIR)/man5/mtlsd.ini.5
	install -m 0644 README.md scripts/deb/copyright $(DESTDIR)$(DOCDIR)/
	install -m 0644 examples/*.ini examples/*.nft examples/*.json $(DESTDIR)$(DOCDIR)/examples/
	sed -E -e 's#(^|[= +!@:-])/[^ =]*/s?bin/mtlsd( |$$)#\1$(SBINDIR)/mtlsd\2#g' \
	  -e 's#/usr/local/share/doc/mtlsd#$(DOCDIR)#g' \
	  examples/mtlsd.service > $(DESTDIR)$(UNITDIR)/mtlsd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mtlsd.service
	@$(call install_conf,examples/mtlsd.ini,$(DESTDIR)$(SYSCONFDIR)/mtlsd/mtlsd.ini)
	@$(call install_conf,examples/mtlsd.logrotate,$(DESTDIR)$(SYSCONFDIR)/logrotate.d/mtlsd)

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/mtlsd $(DESTDIR)$(MANDIR)/man8/mtlsd.8 \
	  $(DESTDIR)$(MANDIR)/man5/mtlsd.ini.5 $(DESTDIR)$(UNITDIR)/mtlsd.service
	rm -rf $(DESTDIR)$(DOCDIR)
	@$(call remove_conf,examples/mtlsd.ini,$(DESTDIR)$(SYSCONFDIR)/mtlsd/mtlsd.ini)
	@$(call remove_conf,examples/mtlsd.logrotate,$(DESTDIR)$(SYSCONFDIR)/logrotate.d/mtlsd)
	-@rmdir $(DESTDIR)$(SYSCONFDIR)/mtlsd 2>/dev/null || true

# The package is what make install puts under /usr, plus scripts/deb/'s
# control files; dpkg-deb builds it, as root:root whoever runs make.  Its
# mtlsd is built apart, in $(DEBDIR)/build, with Debian's hardening flags
# (dpkg-buildflags, hardening=+all: stack protector, fortify, relro, now).
deb:
	@command -v dpkg-buildflags >/dev/null && command -v dpkg-shlibdeps >/dev/null || \
	  { echo "mtlsd: make deb needs dpkg-dev; run 'make deps' (as root)" >&2; exit 1; }
	rm -rf $(DEBDIR)/stage
	flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $$1; }; \
	  CFLAGS="$$(flags CFLAGS)" CPPFLAGS="$$(flags CPPFLAGS)" LDFLAGS="$$(flags LDFLAGS)" \
	  $(MAKE) BUILD=$(DEBDIR)/build $(DEBDIR)/build/mtlsd
	$(MAKE) install BUILD=$(DEBDIR)/build DESTDIR=$(abspath $(DEBDIR))/stage \
	  PREFIX=/usr UNITDIR=$(DEB_UNITDIR)
	sh scripts/deb/build.sh $(DEBDIR)/stage $(DEBDIR)

.PHONY: install uninstall deb FORCE
FORCE:
# ---- end of install and packaging ----

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
