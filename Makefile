# Tools are pinned here and installed into ./bin, so `make generate` reproduces the
# committed code byte for byte. protoc itself comes from Debian's protobuf-compiler.
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0
PROTOC_VERSION             := 3.21.12

BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

PROTOS := $(wildcard proto/sockd/v1/*.proto)

.PHONY: all build test generate check-generate tools lint
all: build

build:
	go build -o $(BIN)/ ./cmd/...

test:
	go test -race -count=1 ./...

# Each plugin's target names its version, so that a new pin installs it
# again over what bin/ holds.
GEN_GO      := $(BIN)/.protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
GEN_GO_GRPC := $(BIN)/.protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

tools: $(GEN_GO) $(GEN_GO_GRPC)

$(GEN_GO):
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	touch $@

$(GEN_GO_GRPC):
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	touch $@

generate: tools
	@protoc --version | grep -q "$(PROTOC_VERSION)" || { echo "need protoc $(PROTOC_VERSION) (apt-get install protobuf-compiler)"; exit 1; }
	protoc -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		$(PROTOS)

# check-generate fails if the committed generated code differs from what
# `make generate` produces.
check-generate: generate
	git diff --exit-code -- proto/

lint:
	gofmt -l . | (! grep .)
	go vet ./...
