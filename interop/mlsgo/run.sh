#!/usr/bin/env bash
# Runs the MLS interop module's tests (a separate Go module: `go test ./...`
# from the repository root does not enter it).
#
#   MLS_TEST_VECTORS  vectors directory (default: shared/mls-test-vectors next
#                     to the repository, i.e. <repo>/../shared/mls-test-vectors)
#   MLS_INTEROP_DEEP=1  also run deep_random.json (about 30 s per run)
#   MLS_INTEROP_TAGS    extra build tags for go vet and go test
# Extra arguments are passed to `go test` (e.g. -run, -v).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export MLS_TEST_VECTORS="${MLS_TEST_VECTORS:-$(cd "$repo/.." && pwd)/shared/mls-test-vectors}"
cd "$here"
tags=()
if [ -n "${MLS_INTEROP_TAGS:-}" ]; then tags=(-tags "$MLS_INTEROP_TAGS"); fi
echo "== interop/mlsgo: go vet, go test (vectors: $MLS_TEST_VECTORS)"
go vet "${tags[@]}" ./...
go test "${tags[@]}" -count=1 "$@" ./...
