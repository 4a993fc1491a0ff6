#!/usr/bin/env bash
# Builds the two Debian packages from the work tree (what git tracks, and
# new files it does not ignore) into build/deb/, then runs lintian on them:
# an error fails the build.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
out=$repo/build/deb
src=$out/campaign-$version

rm -rf "$out"
mkdir -p "$src"
cd "$repo"
if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 cp -P --parents -t "$src" 2>/dev/null || true
else
    tar --exclude=./build -cf - . | tar -xf - -C "$src"
fi

cd "$src"
dpkg-buildpackage -b -us -uc > "$out/build.log" 2>&1 \
    || { tail -30 "$out/build.log"; exit 1; }

cd "$out"
lintian --fail-on error ./*.changes | tee lintian.log
ls -l ./*.deb
