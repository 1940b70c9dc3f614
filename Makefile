# punchlab: one flat GNU Makefile.
#   make            build punch-server, punch-client and punchlab into $(O)/
#   make check      function lengths, unit tests (ASan+UBSan), fuzz regression, lab tests on real namespaces
#   make lab        run every topology in topologies/ and matrix in matrices/ (reports in $(O)/lab/)
#   make bench      benchmarks, as ratios against a baseline measured in the same run
#   make fuzz       libFuzzer harnesses (FUZZ_SECONDS each, default 30)
#   make install    PREFIX=/usr/local DESTDIR=
# Missing Debian packages are installed first when run as root (ci/install-deps.sh).

O        ?= build
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
CC       ?= cc
FUZZ_CC  ?= clang
FUZZ_SECONDS ?= 30
JOBS     ?=
TOPOLOGIES ?= $(sort $(wildcard topologies/*.topo)) $(sort $(wildcard matrices/*.matrix))
LAB_ARGS ?=

WARN := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wundef -Wwrite-strings -Wnull-dereference \
        -Wimplicit-fallthrough -Wno-unused-parameter
ifneq ($(filter 1 true yes,$(WERROR) $(CI)),)
WARN += -Werror
endif

# Build configuration comes from pkg-config once the packages are there; the
# rule below installs them first (make restarts after building an included file).
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
-include $(O)/config.mk
endif
$(O)/config.mk: ci/install-deps.sh
	@mkdir -p $(@D)
	@ci/install-deps.sh build
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags libnl-route-3.0 libnftables json-c inih libpcap)"; \
	   echo "PKG_LIBS := $$(pkg-config --libs libnl-route-3.0 libnftables json-c inih libpcap)"; \
	   echo "CMOCKA_LIBS := $$(pkg-config --libs cmocka)"; } > $@

# Layers: src/ (the programs and what they share) sees only src/; lab/ builds
# on src/. Each layer is its own library and its own include path, so a lab/
# header included from src/ fails to compile.
CPPFLAGS += -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
LAB_CPPFLAGS := -Ilab
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fno-strict-aliasing -MMD -MP
SANFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDLIBS   += $(PKG_LIBS) -lm

MAINS    := $(wildcard src/*/main.c) lab/main.c
SRC_SRCS := $(filter-out $(MAINS),$(sort $(wildcard src/*/*.c)))
LAB_SRCS := $(filter-out $(MAINS),$(sort $(wildcard lab/*.c lab/*/*.c)))
LIB_SRCS := $(SRC_SRCS) $(LAB_SRCS)
SRC_OBJS := $(SRC_SRCS:%.c=$(O)/obj/%.o)
LAB_OBJS := $(LAB_SRCS:%.c=$(O)/obj/%.o)
SRC_SAN_OBJS := $(SRC_SRCS:%.c=$(O)/san/%.o)
LAB_SAN_OBJS := $(LAB_SRCS:%.c=$(O)/san/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/fuzz/%)
REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/tests/replay_%)
BENCH_SRCS := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(O)/bench/%)
LAB_TESTS := $(sort $(wildcard tests/lab/*.sh))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(O)/tools/%)
PROGS    := $(O)/punch-server $(O)/punch-client $(O)/punchlab $(if $(wildcard src/probe/main.c),$(O)/punch-probe)

.PHONY: all check style unit fuzz-replay labtest lab bench fuzz install uninstall clean distclean deps
.DEFAULT_GOAL := all

all: $(PROGS)

deps:
	@ci/install-deps.sh build lab

# src/ objects see -Isrc only; lab/ and test objects see -Isrc -Ilab.
$(O)/obj/src/%.o: src/%.c $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/san/src/%.o: src/%.c $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

$(O)/obj/lab/%.o: lab/%.c $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LAB_CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/san/lab/%.o: lab/%.c $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LAB_CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

$(O)/libpunch.a: $(SRC_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/liblab.a: $(LAB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/libpunch-san.a: $(SRC_SAN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/liblab-san.a: $(LAB_SAN_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/punch-server: $(O)/obj/src/server/main.o $(O)/libpunch.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/punch-client: $(O)/obj/src/client/main.o $(O)/libpunch.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/punch-probe: $(O)/obj/src/probe/main.o $(O)/libpunch.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/punchlab: $(O)/obj/lab/main.o $(O)/liblab.a $(O)/libpunch.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests: one cmocka driver per module, always under ASan and UBSan.
$(O)/tests/test_%: tests/unit/test_%.c $(O)/liblab-san.a $(O)/libpunch-san.a $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LAB_CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< $(O)/liblab-san.a $(O)/libpunch-san.a $(LDLIBS) $(CMOCKA_LIBS)

# Every fuzz harness is also built as a plain program that replays its seed
# corpus under the sanitizers, so `make check` needs no clang.
$(O)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(O)/liblab-san.a $(O)/libpunch-san.a $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LAB_CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< tests/fuzz/replay.c $(O)/liblab-san.a $(O)/libpunch-san.a $(LDLIBS)

$(O)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(O)/config.mk
	@ci/install-deps.sh fuzz
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(LAB_CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRCS) $(LDLIBS)

# Helper programs for the lab tests (traffic generators, abusers).
$(O)/tools/%: tests/tools/%.c $(O)/liblab.a $(O)/libpunch.a $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LAB_CPPFLAGS) $(CFLAGS) -o $@ $< $(O)/liblab.a $(O)/libpunch.a $(LDLIBS)

$(O)/bench/%: tests/bench/%.c $(O)/liblab.a $(O)/libpunch.a $(O)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(LAB_CPPFLAGS) $(CFLAGS) -o $@ $< $(O)/liblab.a $(O)/libpunch.a $(LDLIBS)

# The drivers run NPROC at a time (only test_kernel makes namespaces, its
# own), each one's output printed whole, in order.
unit: $(UNIT_BINS)
	@printf '%s\n' $(UNIT_BINS) | xargs -P $(NPROC) -I{} sh -c '{} > {}.log 2>&1; echo $$? > {}.rc'; \
		rc=0; for t in $(UNIT_BINS); do echo "== $$t"; cat $$t.log; \
		[ "$$(cat $$t.rc)" = 0 ] || { echo "FAILED: $$t"; rc=1; }; done; exit $$rc

fuzz-replay: $(REPLAY_BINS)
	@set -e; for t in $(REPLAY_BINS); do \
		name=$${t##*/replay_}; echo "== $$t tests/fuzz/corpus/$$name"; \
		$$t tests/fuzz/corpus/$$name; done

# Lab tests mostly wait: LABTEST_JOBS at a time, the loopback ones in turn in one slot (tests/lab-run.sh).
LABTEST_JOBS ?= 4
labtest: $(PROGS) $(TOOL_BINS)
	@ci/install-deps.sh lab
	@O=$(O) LABTEST_JOBS=$(LABTEST_JOBS) sh tests/lab-run.sh $(LAB_TESTS)

# No function in src/ or lab/ longer than a screen (tests/style/func-length.allow
# names the ones still waiting).
style:
	@tests/style/func-length-test.sh
	@tests/style/func-length.sh

# check builds what it runs in parallel (unless make was given its own -j),
# then runs the style check, the unit tests, the fuzz replay and the lab
# tests. The unit tests run before the lab tests, not beside them: a lab
# test loads the machine with namespaces, and test_kernel's datagrams must
# meet a quiet kernel to mean what they say.
NPROC := $(shell nproc 2>/dev/null || echo 2)
check:
	@case "$(MAKEFLAGS)" in *-j*) j= ;; *) j=-j$(NPROC) ;; esac; \
		$(MAKE) --no-print-directory $$j $(PROGS) $(TOOL_BINS) $(UNIT_BINS) $(REPLAY_BINS)
	@$(MAKE) --no-print-directory style unit fuzz-replay labtest

lab: $(PROGS)
	@ci/install-deps.sh lab
	@mkdir -p $(O)/lab
	$(O)/punchlab run $(if $(JOBS),-j $(JOBS)) --picture $(O)/lab --markdown $(O)/lab/report.md \
		--junit $(O)/lab/junit.xml --json $(O)/lab/report.json $(LAB_ARGS) $(TOPOLOGIES)

# bench_server's thread-per-client baseline server.
$(O)/bench/tpc-server: LDLIBS += -pthread
bench: $(BENCH_BINS) $(PROGS) $(O)/bench/tpc-server
	@set -e; for b in $(BENCH_BINS); do $$b; done
	@# punch time against the round trip: its bound is a benchmark's target
	PUNCH_TIME_STRICT=1 O=$(O) sh tests/lab/loopback-punch-time.sh
	PUNCH_TIME_STRICT=1 COUNT=20 O=$(O) sh tests/lab/punch-rtt.sh

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do name=$${f##*/}; mkdir -p $(O)/fuzz/corpus-$$name; \
		$$f -max_total_time=$(FUZZ_SECONDS) $(O)/fuzz/corpus-$$name tests/fuzz/corpus/$$name; done

install: $(PROGS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	install -m 644 $(wildcard doc/*.1) $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,punch-server punch-client punchlab punch-probe)
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard doc/*.1)))

clean distclean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# `make -s print-VAR` prints a variable (the layering test reads the flags with it).
print-%:
	@echo '$($*)'
