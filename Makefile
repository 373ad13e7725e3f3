# Peerflow. `make run` opens the app, `make test` runs every test; both set
# up what they need first. See README.md.

GO       ?= go
BIN      := peerflow
GOBIN    := $(shell $(GO) env GOPATH)/bin
FYNE_CMD := fyne.io/tools/cmd/fyne@v1.7.4

# Debian/Ubuntu packages that building Fyne needs: a C compiler for cgo and
# the GL, X11 and Wayland headers of its GLFW driver.
BUILD_PKGS := gcc libc6-dev pkg-config libgl1-mesa-dev libx11-dev libxcursor-dev \
	libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libwayland-dev libxkbcommon-dev
# What `make test` adds: the real programs some tests check Peerflow
# against (core/testtools): ffmpeg and ffprobe as players, nginx as an
# origin server, etcd as the fleet's store, a D-Bus daemon as a desktop's
# session bus (is there a tray to hide the window to?).
TEST_PKGS  := ffmpeg nginx-light etcd-server dbus-daemon
# What `make package` adds: the Windows cross compiler (with its binutils,
# for the checks), and the tools the checks run.
PACKAGE_PKGS := gcc-mingw-w64-x86-64 desktop-file-utils xdg-utils file binutils
# What `make screenshot` adds: a virtual X server, capture tools, and ip
# for the isolated network namespace it runs in.
SHOT_PKGS  := xvfb xauth imagemagick xdotool iproute2

# Packages that own sockets and goroutines (and the GUI, which drives
# them) also run under the race detector.
RACE_PKGS := ./core/... ./tracker/... ./app/gui/...

.PHONY: all deps test-deps build run test check fuzz faults soak bench bench-swarm bench-sim fleet package screenshot clean

all: build

# Installs missing Debian/Ubuntu packages (with sudo when not root); on
# other systems it says what to install.
deps:
	@PKGS="$(BUILD_PKGS)" ./.ci/deps

test-deps:
	@PKGS="$(TEST_PKGS)" ./.ci/deps

build: deps
	$(GO) build -o $(BIN) .

run: build
	./$(BIN)

test: deps test-deps check
	$(GO) test ./...
	$(GO) test -race $(RACE_PKGS)

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every FuzzXxx target in turn (.ci/fuzz) for FUZZTIME each, inside the
# isolated namespace (some targets serve on loopback); prints execs and
# corpus size per target. A crasher stops it and is left in the package's
# testdata/fuzz/ to become a regression test. CI runs FUZZTIME=3s.
#   FUZZTIME=1m       time per target
#   FUZZ_PARALLEL=    fuzzing workers (default: one per core)
FUZZTIME      ?= 1m
FUZZ_PARALLEL ?=
fuzz: deps
	$(GO) mod download
	FUZZTIME=$(FUZZTIME) FUZZ_PARALLEL=$(FUZZ_PARALLEL) ./.ci/netns ./.ci/fuzz

# The fault campaign (faults_test.go): real peerflow processes on
# 127.0.0.1 inside the isolated namespace. Each of ROUNDS=20 rounds shares
# a new 64 MiB file at 40 MiB/s and gets it; the getter is SIGKILLed at a
# random point and started again: the file must end byte-identical and
# alone in its folder, and the bytes fetched again are reported against
# what the durability interval allows. Then a tracker is SIGKILLed with
# three getters mid-download and restarted: they must all finish and the
# tracker have the manifest and every lease back. The sharer SIGKILLed the
# moment three getters hold its file between them (their control sockets
# tell): the swarm must complete from them. A sharer whose copy rots on
# disk: the getter must ban it and take no byte from it. Then a download
# into a tmpfs too small, and one whose tmpfs fills mid-way (the campaign
# runs in a mount namespace of its own): a clear error, nothing lost, a
# resume; and a share truncated while a getter fetches it.
ROUNDS ?= 20
faults: build
	$(GO) mod download
	./.ci/netns unshare --mount --propagation private env PEERFLOW_FAULTS_TMPFS=1 \
		$(GO) test -run '^TestFault' -count 1 -timeout 30m -v . -args -faults.rounds $(ROUNDS)

# The soak (TestSoak in core/soak_test.go): one tracker and 6 nodes in one
# process on 127.0.0.1 inside the isolated namespace, 30 contents, nodes leaving and joining, downloads
# started, cancelled, finished and deleted, for SOAK; it prints goroutines
# and RSS every 10 s and fails on a byte that differs, RSS that keeps
# growing, or goroutines left once every node closed.
SOAK ?= 10m
soak:
	$(GO) mod download
	./.ci/netns $(GO) test -run '^TestSoak$$' -count 1 -timeout 30m -v ./core/ -args -soak $(SOAK)

bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# The swarm benchmark (TestSwarmBench in swarm_test.go): real peerflow
# processes, a tracker, one sharer and N getters that seed, all on
# 127.0.0.1 inside the isolated namespace .ci/netns (needs root or user
# namespaces); it prints, per run, T (until every getter has the file),
# the P2P bound T*, T/T*, the sharer's uploaded copies and p50/p99 getter
# times, then the median and range over the runs. Variables (rates and
# sizes as peerflow reads them: MiB = 2^20, MB = 10^6):
#   N=4             getters, started at once
#   SIZE=256MiB     file size
#   UP=20MiB/s      upload limit of every getter
#   SHARER_UP=$(UP) upload limit of the sharer
#   CAPS=           comma-separated getter upload limits instead of UP;
#                   getter i gets cap i mod the count (e.g. 20MiB/s,2MiB/s)
#   LATE=           e.g. 5s: the last getter starts that long after the rest
#   RUNS=3          runs
# e.g. make bench-swarm N=8 SIZE=128MiB UP=10MiB/s
N         ?= 4
SIZE      ?= 256MiB
UP        ?= 20MiB/s
SHARER_UP ?= $(UP)
CAPS      ?=
LATE      ?=
RUNS      ?= 3

# Modules are downloaded first: the proxy is unreachable in the namespace.
bench-swarm: build
	$(GO) mod download
	./.ci/netns $(GO) test -run '^TestSwarmBench$$' -count 1 -timeout 60m -v . -args \
		-swarm.n $(N) -swarm.size $(SIZE) -swarm.up $(UP) -swarm.sharer-up $(SHARER_UP) -swarm.runs $(RUNS) \
		$(if $(CAPS),-swarm.caps $(CAPS)) $(if $(LATE),-swarm.late $(LATE))

# The same swarm in the simulator (TestSwarmSim in core/sched/sim): the
# real scheduler in virtual time, no network at all, for swarms too large
# to run as processes. Same figures, plus events and how many times
# faster than real time it ran. Variables:
#   SIM_N=1000        downloaders (connected at random, 20 dials each, 50 at most)
#   SIM_SIZE=64MiB    content size (256 KiB chunks)
#   SIM_UP=1MiB/s     upload of the origin and of every downloader
#   SIM_SLOW=         k: every k-th downloader uploads slowly:
#   SIM_SLOW_FACTOR=5 at SIM_UP over this
#   RUNS=3            runs, each with its own seed
# e.g. make bench-sim SIM_N=1000 SIM_SLOW=10 (a tenth at a fifth of the rate)
SIM_N           ?= 1000
SIM_SIZE        ?= 64MiB
SIM_UP          ?= 1MiB/s
SIM_SLOW        ?=
SIM_SLOW_FACTOR ?= 5
bench-sim:
	$(GO) test -run '^TestSwarmSim$$' -count 1 -timeout 180m -v ./core/sched/sim/ -args \
		-sim.n $(SIM_N) -sim.size $(SIM_SIZE) -sim.up $(SIM_UP) -sim.runs $(RUNS) $(if $(SIM_SLOW),-sim.slow $(SIM_SLOW) -sim.slow-factor $(SIM_SLOW_FACTOR))

# A tracker fleet to try (.ci/fleet): a local etcd and three trackers on
# it, on loopback inside the isolated namespace; a demo shares a file
# through one tracker and gets it through another, then a shell inside
# the namespace lets you try more (FLEET_SHELL=0: the demo only).
fleet: build test-deps
	@PKGS="curl" ./.ci/deps
	./.ci/netns ./.ci/fleet ./$(BIN)

# What people install (.ci/package), into dist/: the Linux tarball (binary,
# desktop entry that handles peerflow:// links, icon, and a Makefile with
# install/uninstall into ~/.local) and the Windows .exe (cross-built with
# mingw-w64 by fyne package: icon, version resource); then checks what
# both hold and that the tarball installs and uninstalls cleanly
# (.ci/check-package).
package: deps
	@PKGS="$(PACKAGE_PKGS)" ./.ci/deps
	$(GO) install $(FYNE_CMD)
	FYNE=$(GOBIN)/fyne ./.ci/package

# The window as a PNG (SHOT, default assets/screenshot.png), taken of the
# Linux package installed into a throw-away home, under Xvfb.
SHOT ?= assets/screenshot.png
screenshot: deps
	@PKGS="$(SHOT_PKGS) desktop-file-utils xdg-utils file" ./.ci/deps
	./.ci/package linux
	./.ci/screenshot dist/peerflow-$$(sed -nE 's/^Version *= *"([^"]+)"/\1/p' FyneApp.toml)-linux-$$($(GO) env GOARCH).tar.gz $(SHOT)

clean:
	rm -rf $(BIN) dist
