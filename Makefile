# koff - see README.md.  `make` builds koff-link, koff-load and the samples;
# `make test` runs every test (real BPF when root); `make bench` measures.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
INCS    := -Iinclude -Isrc -Ilifter -Ibpfgen -Ikernel
LIBS    := -lelf -ldw -lcapstone -lbpf -lz -lpcap -lcrypto
# SANITIZE=1 builds everything with AddressSanitizer and UBSan into build-asan/.
ifeq ($(SANITIZE),1)
  BUILD := build-asan
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
else
  BUILD := build
endif

# kernel/ holds two programs of its own (koff-vm, koff-vmagent): not koff-link's.
KERNEL_MAINS := kernel/koff-vm.c kernel/vmagent.c
KOFF_SRCS := $(wildcard src/*.c lifter/*.c bpfgen/*.c) $(filter-out $(KERNEL_MAINS),$(wildcard kernel/*.c))
KOFF_OBJS := $(KOFF_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/runtime/koff_rt_blob.o
# koff-vm: QEMU runs and the host side of the guest agent.
VM_OBJS := $(addprefix $(BUILD)/,kernel/koff-vm.o kernel/vm.o kernel/cpio.o kernel/vmcheck.o \
	kernel/kfeature.o bpfgen/verify.o src/util.o)
# koff-vmagent runs inside a guest whose initramfs has no libraries: static,
# and never sanitized (ASan does not link statically).
AGENT_SRCS := kernel/vmagent.c kernel/probe.c kernel/kfeature.c bpfgen/verify.c src/util.c
AGENT_CFLAGS := $(filter-out -fsanitize% -fno-sanitize% -fno-omit-frame-pointer,$(CFLAGS))
# koff-load shares the userspace-cost calibration with koff-link.
LOAD_SRCS := $(wildcard loader/*.c) src/calibrate.c kernel/probe.c kernel/target.c kernel/kfeature.c src/util.c
LOAD_OBJS := $(LOAD_SRCS:%.c=$(BUILD)/%.o)

# Samples are built the way a user builds a server: gcc -O2 -g -c.
SAMPLE_CC     ?= gcc
SAMPLE_CFLAGS ?= -O2 -g
SAMPLES       := samples/echo/echo samples/dns/dns samples/slowpath/slowpath \
		 samples/kvcache/kvcache samples/counters/counters

.PHONY: all test bench bench-quick bench-link bench-decide clean samples
all: $(BUILD)/koff-link $(BUILD)/koff-load $(BUILD)/koff-vm $(BUILD)/koff-vmagent \
	koff-link koff-load koff-vm samples

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(INCS) -MMD -MP -c $< -o $@

# runtime/koff_rt.c goes into koff-link as text: it is compiled at link
# time, for OUT, by the user's compiler (src/trampoline.c).
$(BUILD)/runtime/koff_rt_blob.o: runtime/koff_rt_blob.S runtime/koff_rt.c
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/koff-link: $(KOFF_OBJS)
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

$(BUILD)/koff-load: $(LOAD_OBJS)
	$(CC) $(LDFLAGS) $^ -lbpf -lelf -lz -lcrypto -o $@

$(BUILD)/koff-vm: $(VM_OBJS)
	$(CC) $(LDFLAGS) $^ -lbpf -lelf -lz -o $@

$(BUILD)/koff-vmagent: $(AGENT_SRCS) $(wildcard include/*.h kernel/*.h bpfgen/verify.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(AGENT_CFLAGS) $(INCS) -static $(AGENT_SRCS) -lbpf -lelf -lz -o $@

# Convenience links at the top level.
koff-link koff-load koff-vm: %: $(BUILD)/%
	ln -sf $< $@

samples: $(SAMPLES:%=%.o)
samples/%.o: samples/%.c samples/udp_server.h
	$(SAMPLE_CC) $(SAMPLE_CFLAGS) -c $< -o $@

test: all
	./tests/run.sh

bench: all
	./bench/run.sh

# Lifted/reference ratios, the breakdown and instruction counts in < 1 minute.
bench-quick: all
	./bench/quick.sh

# koff-link's time on the servers corpus and on big inputs (BENCHMARKS.md
# "Link time"); LINKTIME_CONFIGS=all for all 30 configurations.
bench-link: all
	./bench/linktime.sh

# The workload decision and koff-load --adapt end to end (BENCHMARKS.md).
bench-decide: all
	./bench/decide.sh

clean:
	rm -rf build build-asan build-fuzz koff-link koff-load koff-vm samples/*/*.o

-include $(KOFF_OBJS:.o=.d) $(LOAD_OBJS:.o=.d) $(VM_OBJS:.o=.d)

# ---- fuzz-lifter: the generated-programs corpus (tests/gen/, COVERAGE.md) ----
# A long run: 200 generated handlers x {gcc, clang, clang-19} x {-O0..-Os}
# x {"", -fPIC}, 10000 inputs each.  Override, e.g. make fuzz-lifter FUZZ_COUNT=20.
FUZZ_COUNT  ?= 200
FUZZ_SEED   ?= 1000
FUZZ_INPUTS ?= 10000
.PHONY: fuzz-lifter
fuzz-lifter: $(BUILD)/koff-link koff-link
	tests/gen/run.sh --count $(FUZZ_COUNT) --seed $(FUZZ_SEED) --inputs $(FUZZ_INPUTS) --jobs 2

# ---- fuzz-objects: libFuzzer over the object reader, DWARF, layout, lifter,
# bpfgen (tests/fuzz/, COVERAGE.md).  Everything but src/main.c is built with
# clang, ASan + UBSan and libFuzzer's coverage into build-fuzz/.  The long run:
# make fuzz-objects FUZZ_OBJ_RUNS=100000 (figures in COVERAGE.md).
FUZZ_CLANG     ?= clang
FUZZ_BUILD     := build-fuzz
FUZZ_FLAGS     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_OBJS  := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(filter-out src/main.c,$(KOFF_SRCS))) \
	$(FUZZ_BUILD)/runtime/koff_rt_blob.o
$(FUZZ_BUILD)/runtime/koff_rt_blob.o: runtime/koff_rt_blob.S runtime/koff_rt.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) -c $< -o $@
FUZZ_OBJ_RUNS  ?= 100000
FUZZ_OBJ_SEED  ?= 1
FUZZ_DRIVER_RUNS ?= 3000
.PHONY: fuzz-objects
$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CLANG) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(INCS) -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/fuzz-objects: tests/fuzz/fuzz_objects.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CLANG) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer $(INCS) $^ $(LIBS) -o $@
fuzz-objects: $(FUZZ_BUILD)/fuzz-objects build-asan-link
	tests/fuzz/run.sh --runs $(FUZZ_OBJ_RUNS) --seed $(FUZZ_OBJ_SEED) --driver-runs $(FUZZ_DRIVER_RUNS)
.PHONY: build-asan-link
build-asan-link:
	$(MAKE) SANITIZE=1 build-asan/koff-link
-include $(FUZZ_LIB_OBJS:.o=.d)
