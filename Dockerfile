# One image with both binaries: bp-operator (the controller) and bp-generator (the CLI and the
# generator Job). Build: docker build -t ghcr.io/flashbots/builder-playground-operator:<version> .

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
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bp-operator"]
