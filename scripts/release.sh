#!/usr/bin/env bash
# Builds skiffmq from this checkout and packs the release tarball that
# `npm install -g`, the CloudFormation stack (its ReleaseUrl parameter) and any
# other host install from; nothing needs to be published to a registry.
#
#   scripts/release.sh [OUT_DIR]        OUT_DIR defaults to the current directory
#
# Writes OUT_DIR/skiffmq-<version>.tgz and, beside it, <tarball>.sha256 in the
# format `sha256sum -c` reads. Build output goes to stderr; stdout carries two
# lines only:
#   tarball <absolute path>
#   sha256 <hex digest>
# npm pack stores fixed timestamps, so the same sources give the same digest.
set -euo pipefail

die() {
  printf 'release: %s\n' "$*" >&2
  exit 2
}

case "${1:-}" in
  -h | --help)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  -*) die "unknown option $1 (usage: scripts/release.sh [OUT_DIR])" ;;
esac
[ $# -le 1 ] || die "too many arguments (usage: scripts/release.sh [OUT_DIR])"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "${1:-.}" || die "cannot create the output directory ${1:-.}"
out=$(cd "${1:-.}" && pwd)
# The build below empties dist/, and a tarball left there would be packed
# into the next release.
case "$out/" in
  "$root/dist/"*) die "$out is inside dist/, which the build empties; choose another directory" ;;
esac

cd "$root"
command -v npm >/dev/null || die "npm is not on PATH"
[ -d node_modules ] || die "no node_modules in $root: run npm install first"

# A clean build: dist/ is what the tarball ships, and a file left there by an
# earlier build of a since-deleted source would ship with it.
rm -rf dist
npm run build >&2

# --ignore-scripts: `prepare` would run the same build a second time.
name=$(npm pack --ignore-scripts --json --pack-destination "$out" |
  node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s)[0].filename))')
tarball=$out/$name
[ -f "$tarball" ] || die "npm pack did not write $tarball"

# The files an install runs from must be in it (package.json "files").
listing=$(tar -tzf "$tarball")
for required in package/package.json package/dist/cli/skiff.js package/dist/broker/worker/main.js package/dist/clients/index.js; do
  grep -qxF "$required" <<<"$listing" || die "$name lacks $required"
done

if command -v sha256sum >/dev/null; then
  digest=$(sha256sum "$tarball" | cut -d' ' -f1)
else
  digest=$(shasum -a 256 "$tarball" | cut -d' ' -f1) # macOS
fi
printf '%s  %s\n' "$digest" "$name" >"$tarball.sha256"

printf 'tarball %s\nsha256 %s\n' "$tarball" "$digest"
