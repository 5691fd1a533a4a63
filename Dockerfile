# One image with both binaries: bp-operator (the controller) and bp-generator (the CLI and the
# generator Job), plus builder-playground for playgrounds generated in the cluster (a recipe
# alone, or spec.generate without an image).
# Build: docker build -t ghcr.io/flashbots/builder-playground-operator:<version> .

# builder-playground from source, at the commit whose output the tests replay
# (../shared/fixtures/real-c473a6a). Built as upstream releases it (CGO on, glibc).
FROM golang:1.25-bookworm AS builder-playground
ARG BUILDER_PLAYGROUND_COMMIT=c473a6ab5a34c1dad1adaf8f8e5677d94bb13258
RUN git init -q /src \
 && git -C /src fetch -q --depth 1 https://github.com/flashbots/builder-playground "$BUILDER_PLAYGROUND_COMMIT" \
 && git -C /src checkout -q FETCH_HEAD \
 && cd /src \
 && go build -trimpath -ldflags "-X main.version=$BUILDER_PLAYGROUND_COMMIT" -o /out/builder-playground main.go

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY generator generator
COPY operator operator
COPY e2e e2e
RUN cargo build --release --locked -p bp-generator -p bp-operator \
 && install -D -m 0755 target/release/bp-generator /out/bp-generator \
 && install -D -m 0755 target/release/bp-operator /out/bp-operator

# glibc and CA certificates, no shell, non-root (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY --from=builder-playground /out/builder-playground /usr/local/bin/builder-playground
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bp-operator"]
