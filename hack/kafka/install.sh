#!/usr/bin/env bash
# Resolves Apache Kafka and its runtime dependencies into hack/kafka/lib/ with Maven.
#
# Idempotent: does nothing when lib/ exists and was made from the current pom.xml
# (lib/.stamp holds the pom's checksum). Safe to run concurrently (flock).
# Extra arguments go to mvn, e.g. -Dmaven.repo.local=/tmp/m2 or -o.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
lib="$here/lib"
stamp="$lib/.stamp"

want="$(sha256sum "$pom" | cut -d' ' -f1)"
up_to_date() { [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

up_to_date && exit 0

command -v mvn >/dev/null || { echo "hack/kafka/install.sh: mvn not found on PATH (Maven 3.8+ is needed)" >&2; exit 1; }
command -v java >/dev/null || { echo "hack/kafka/install.sh: java not found on PATH (Java 17+ is needed)" >&2; exit 1; }

mkdir -p "$here/target"
exec 9>"$here/target/install.lock"
flock 9
up_to_date && exit 0   # another process finished while we waited

scratch="$here/target/lib.tmp"
rm -rf "$scratch"
echo "hack/kafka: resolving Apache Kafka with Maven into $lib" >&2
start=$SECONDS
mvn -q -B -Dstyle.color=never -f "$pom" -Dkafka.lib.dir="$scratch" "$@" dependency:copy-dependencies
[[ -f "$(ls "$scratch"/kafka_2.13-*.jar 2>/dev/null | head -1)" ]] || { echo "hack/kafka/install.sh: no kafka_2.13 jar in $scratch" >&2; exit 1; }
echo "$want" >"$scratch/.stamp"
rm -rf "$lib"
mv "$scratch" "$lib"
echo "hack/kafka: $(ls "$lib" | wc -l) jars in $((SECONDS - start))s" >&2
