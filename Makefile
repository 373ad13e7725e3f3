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
# What `make screenshot` adds: a virtual X server, capture tools, and ip
# for the isolated network namespace it runs in.
SHOT_PKGS  := xvfb xauth imagemagick xdotool iproute2

# Packages that own sockets and goroutines (and the GUI, which drives
# them) also run under the race detector.
RACE_PKGS := ./core/... ./tracker/... ./app/gui/...

.PHONY: all deps build run test check bench package screenshot clean

all: build

# Installs missing Debian/Ubuntu packages (with sudo when not root); on
# other systems it says what to install.
deps:
	@PKGS="$(BUILD_PKGS)" ./.ci/deps

build: deps
	$(GO) build -o $(BIN) .

run: build
	./$(BIN)

test: deps check
	$(GO) test ./...
	$(GO) test -race $(RACE_PKGS)

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem ./...

package: deps
	$(GO) install $(FYNE_CMD)
	$(GOBIN)/fyne package --os linux --release

screenshot: build
	@PKGS="$(SHOT_PKGS)" ./.ci/deps
	./.ci/screenshot ./$(BIN) assets/screenshot.png

clean:
	rm -f $(BIN) Peerflow.tar.xz
