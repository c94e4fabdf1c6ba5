#!/bin/sh
# Renders the CTI API document's `PUT event-uri-mappings` example (four Zoho PhoneBridge
# mappings) for one call event with Apache Tomcat's EL and with cti-el, one after the other in
# the same run, checks that both render the same text, and prints the CPU time per event of
# each and the ratio.
#
# Needs a JDK and Tomcat's EL jars (Debian: `apt-get install default-jdk-headless
# libtomcat10-java`); TOMCAT_EL_JARS overrides where they are. ROUNDS (default 10) is the
# number of timed rounds (the best counts), PAIRS (default 1) how many times to run the pair.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
jars=${TOMCAT_EL_JARS:-/usr/share/java/tomcat10-el-api.jar:/usr/share/java/tomcat10-jasper-el.jar}
rounds=${ROUNDS:-10}
pairs=${PAIRS:-1}
mappings="$root/tests/fixtures/example-event-uri-mappings-put.json"
event="$root/el/benches/data/example-call-event.json"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
javac -d "$work" -cp "$jars" "$here/TomcatEl.java"
(cd "$root" && cargo build --quiet --release --locked -p cti-el --example compare)
compare="${CARGO_TARGET_DIR:-$root/target}/release/examples/compare"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "java: $(java -version 2>&1 | head -1); Tomcat EL: $(basename "$(readlink -f "${jars%%:*}")")"
i=1
while [ "$i" -le "$pairs" ]; do
    java -cp "$jars:$work" TomcatEl bench "$mappings" "$event" "$rounds" 200000 >"$work/tomcat.out"
    "$compare" "$rounds" 300000 >"$work/cti-el.out"
    grep -E '^(uri|payload) ' "$work/tomcat.out" >"$work/tomcat.text"
    grep -E '^(uri|payload) ' "$work/cti-el.out" >"$work/cti-el.text"
    if ! diff -u "$work/tomcat.text" "$work/cti-el.text"; then
        echo "the two render different text" >&2
        exit 1
    fi
    tomcat=$(awk '/^tomcat_ns_per_event/ {print $2}' "$work/tomcat.out")
    ours=$(awk '/^cti_el_ns_per_event/ {print $2}' "$work/cti-el.out")
    echo "Tomcat EL: $tomcat ns per event; cti-el: $ours ns per event (thread CPU time, best of $rounds rounds); cti-el is $(awk -v t="$tomcat" -v o="$ours" 'BEGIN {printf "%.2f", t / o}') times as fast"
    i=$((i + 1))
done
