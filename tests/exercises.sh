#!/usr/bin/env bash
# Keeps the exercise referees (tests/exercises/) honest, in two halves:
#
# 1. Every referee fails on this tree. A referee that passes without its
#    exercise proves nothing; it also means someone implemented what the
#    exercise asks for, and the exercise must change.
# 2. Every reference solution (tests/exercises/solutions/chNN_exM.patch)
#    makes its referee pass. The patches never touch this tree: each is
#    applied with `git apply` to one copy of it in a temporary folder
#    (tracked and untracked files, without target/), built with its own
#    CARGO_TARGET_DIR there, reused from one solution to the next, and
#    taken out again with `git apply -R`. Every chapter with a referee
#    must have at least one solution.
#
# Usage: bash tests/exercises.sh            (from anywhere in the checkout)
#        KEEP=1 bash tests/exercises.sh     keeps the copy, for debugging
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SOLUTIONS="$ROOT/tests/exercises/solutions"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

fail() {
    echo "tests/exercises.sh: $*" >&2
    exit 1
}

# The referees, by the filter a student types: ch03_ex2, ...
referee_names() {
    cargo test --quiet --locked --test exercises -- --ignored --list 2>/dev/null \
        | sed -n 's/^\(.*::\)\{0,1\}\(ch[0-9][0-9]_ex[0-9]\)_[A-Za-z0-9_]*: test$/\2/p'
}

# Runs the referees matching FILTER and prints one "NAME ok|FAILED" line
# each; the exit status of cargo itself is not used (failures are expected).
run_referees() {
    local filter="$1"
    local log
    log=$(mktemp)
    cargo test --locked --test exercises -- --ignored "$filter" >"$log" 2>&1 || true
    sed -n 's/^test \(.*::\)\{0,1\}\(ch[0-9][0-9]_ex[0-9]\)_[A-Za-z0-9_]* \.\.\. \(ok\|FAILED\)$/\2 \3/p' "$log"
    if ! grep -q '^test result:' "$log"; then
        cat "$log" >&2
        rm -f "$log"
        fail "the referees did not run (build failure?)"
    fi
    rm -f "$log"
}

echo "==> building the referees"
cargo test --locked --test exercises --no-run
mapfile -t REFEREES < <(referee_names)
[[ ${#REFEREES[@]} -gt 0 ]] || fail "no referees found in tests/exercises/"
echo "    ${#REFEREES[@]} referees: ${REFEREES[*]}"

echo "==> 1. every referee fails on this tree"
mapfile -t RESULTS < <(run_referees "ch")
[[ ${#RESULTS[@]} -eq ${#REFEREES[@]} ]] \
    || fail "expected ${#REFEREES[@]} results, got ${#RESULTS[@]}: ${RESULTS[*]}"
passing=()
for result in "${RESULTS[@]}"; do
    echo "    $result"
    [[ "$result" == *" FAILED" ]] || passing+=("${result%% *}")
done
if [[ ${#passing[@]} -gt 0 ]]; then
    fail "these referees pass without their exercise: ${passing[*]} (is the exercise already done in src/?)"
fi

echo "==> 2. every reference solution makes its referee pass"
shopt -s nullglob
patches=("$SOLUTIONS"/ch[0-9][0-9]_ex[0-9].patch)
[[ ${#patches[@]} -gt 0 ]] || fail "no solutions in tests/exercises/solutions/"

# Every chapter with a referee has a solution.
for referee in "${REFEREES[@]}"; do
    chapter=${referee%%_*}
    compgen -G "$SOLUTIONS/${chapter}_ex*.patch" >/dev/null \
        || fail "chapter ${chapter#ch} has referees but no solution in tests/exercises/solutions/"
done

COPY=$(mktemp -d /tmp/duplex-exercises.XXXXXX)
cleanup() {
    if [[ -n "${KEEP:-}" ]]; then
        echo "kept $COPY"
    else
        rm -rf "$COPY"
    fi
}
trap cleanup EXIT
# The tree as it is, uncommitted changes included, without build output.
git ls-files -z --cached --others --exclude-standard \
    | tar --null --ignore-failed-read -T - -cf - 2>/dev/null \
    | tar -xf - -C "$COPY"
export CARGO_TARGET_DIR="$COPY/target"

for patch in "${patches[@]}"; do
    name=$(basename "$patch" .patch)
    printf '    %s: ' "$name"
    [[ " ${REFEREES[*]} " == *" $name "* ]] || fail "$name.patch has no referee named ${name}_..."
    (cd "$COPY" && git apply --check "$patch") || fail "$name.patch no longer applies to this tree.
    To refresh it, in a clean checkout: git apply -3 tests/exercises/solutions/$name.patch;
    resolve any conflict; cargo test --test exercises -- --ignored ${name}_ must pass; then
    git add -A src && git diff --cached -- src > tests/exercises/solutions/$name.patch
    and git reset -q -- src && git checkout -- src"
    (cd "$COPY" && git apply "$patch")
    result=$(cd "$COPY" && run_referees "${name}_")
    (cd "$COPY" && git apply -R "$patch")
    echo "$result"
    [[ "$result" == "$name ok" ]] || fail "$name: the referee does not pass with the reference solution"
done

echo "==> the referees are honest: ${#REFEREES[@]} fail without their exercise, ${#patches[@]} pass with a reference solution"
