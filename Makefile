# SPDX-License-Identifier: MIT
# Leveret: plain GNU make, one object directory per variant, -MMD dependencies.
#   make            build ./leveret
#   make run        install deps, build, start on config.json
#   make test       install deps, codegen-check, unit + black-box tests (gcc, and
#                   clang with ASan+UBSan), fuzz corpus replay and a libFuzzer smoke run
#   make SANITIZE=address,undefined check   one variant only
CC      ?= cc
PYTHON  ?= /usr/bin/python3
SPEC_XML ?= /usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wconversion \
           -Wformat=2 -Werror
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT     ?= -O2 -g
CPPFLAGS += -I. -MMD -MP
CFLAGS  += $(CSTD) $(OPT) $(WARN)
LDLIBS  += -lev -ljansson -lssl -lcrypto -lmicrohttpd -lgnutls -lm

ifdef SANITIZE
VARIANT := san
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
else
VARIANT := plain
endif
B := build/$(VARIANT)

MAIN_SRC := broker/main.c
LIB_SRCS := $(filter-out $(MAIN_SRC),$(wildcard amqp/*.c broker/*.c exchange/*.c queue/*.c persist/*.c mgmt/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIB      := $(B)/libleveret.a
BIN      := $(B)/leveret

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
REPLAY_BINS := $(FUZZ_NAMES:%=$(B)/fuzz/replay_%)
CLIENT_SRCS := $(wildcard tests/blackbox/clients/*.c)
CLIENT_BINS := $(CLIENT_SRCS:tests/blackbox/clients/%.c=$(B)/clients/%)

all: leveret

leveret: $(BIN)
	cp $(BIN) $@

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(B)/$(MAIN_SRC:.c=.o) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test links its own file, an optional stubs_<name>.c, and whatever objects
# of the library it pulls in (the archive only contributes what is referenced).
$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(wildcard $(B)/tests/unit/stubs_$*.o) $(LIB) -lcmocka $(LDLIBS)

$(B)/fuzz/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay_main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Black-box test clients link librabbitmq; the amqp_* names there are its own.
$(B)/clients/%: tests/blackbox/clients/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lrabbitmq

blackbox: $(BIN) $(CLIENT_BINS)
	$(PYTHON) tests/blackbox/run.py --broker $(BIN) --clients $(B)/clients $(if $(SANITIZE),--sanitized)

fuzz-replay: $(REPLAY_BINS)
	@set -e; for n in $(FUZZ_NAMES); do echo "== replay $$n"; \
	  $(B)/fuzz/replay_$$n tests/fuzz/corpus/$$n; done

# blackbox runs last so the run ends with its "N passed, N failed" line.
check: unit fuzz-replay
	$(MAKE) blackbox

# ---- libFuzzer (clang) ----
FUZZ_CC     ?= clang
FUZZ_FLAGS  := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 $(CSTD) -I.
FUZZ_SECONDS ?= 20
FUZZ_LIB_SRCS := $(filter amqp/% broker/util.c broker/err.c broker/buf.c broker/config.c broker/pem.c broker/auth.c broker/map.c exchange/% mgmt/router.c persist/%,$(LIB_SRCS))
fuzz-bins: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ -ljansson -lcrypto
fuzz-smoke: fuzz-bins
	@set -e; for n in $(FUZZ_NAMES); do echo "== fuzz $$n ($(FUZZ_SECONDS)s)"; \
	  mkdir -p build/fuzz/work-$$n; \
	  build/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/amqp.dict \
	    -artifact_prefix=build/fuzz/ build/fuzz/work-$$n tests/fuzz/corpus/$$n 2>&1 | tail -2; done
fuzz: FUZZ_SECONDS=600
fuzz: fuzz-smoke

# ---- persist: message store recovery benchmark (not a test; see tests/bench) ----
# make bench-recover [BENCH_ARGS="--count 1000000 --size 1024 --dir /var/tmp/x --cold"]
BENCH_RECOVER := $(B)/bench/bench_recover
$(BENCH_RECOVER): $(B)/tests/bench/bench_recover.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
bench-recover: $(BENCH_RECOVER)
	$(BENCH_RECOVER) $(BENCH_ARGS)
.PHONY: bench-recover

# ---- publish-to-confirm latency, Leveret against RabbitMQ (not a test; see tests/bench) ----
# make bench-confirm builds the client; tests/bench/confirm_latency.sh runs the comparison.
BENCH_CONFIRM := $(B)/bench/confirm_latency
$(BENCH_CONFIRM): tests/bench/confirm_latency.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $< -lrabbitmq
bench-confirm: $(BENCH_CONFIRM)
.PHONY: bench-confirm

# ---- generated code ----
codegen:
	$(PYTHON) tools/codegen.py --spec $(SPEC_XML) --extra tools/spec/rabbit-extensions.xml --out .
	clang-format -i amqp/spec_gen.c amqp/spec_gen.h broker/dispatch_gen.c broker/handlers_gen.h \
	  tests/unit/test_spec_roundtrip.c
codegen-check: codegen
	git diff --exit-code -- amqp/spec_gen.c amqp/spec_gen.h broker/dispatch_gen.c broker/handlers_gen.h \
	  tests/unit/test_spec_roundtrip.c

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $(shell git ls-files '*.c' '*.h')

# ---- the two commands of the README ----
deps:
	@sh tools/deps.sh

run: deps leveret
	./leveret --config config.json

test: deps
	$(MAKE) codegen-check
	$(MAKE) format-check
	$(MAKE) fuzz-smoke FUZZ_SECONDS=10
	$(MAKE) CC=clang SANITIZE=address,undefined check
	$(MAKE) check

clean:
	rm -rf build leveret

.PHONY: all leveret unit blackbox fuzz-replay check fuzz-bins fuzz-smoke fuzz codegen codegen-check \
        format format-check deps run test clean
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
