#!/bin/sh
# The one way medledger is launched as a service: the container's ENTRYPOINT, and the same script the
# multi-host test runs in network namespaces, so both take the same path to a running node.
#
#   entrypoint.sh testnet ARGS...   medledger testnet ARGS..., unless --out already holds a testnet:
#                                   then it says so and exits 0, so `docker compose up` run twice
#                                   resumes the same chain instead of failing or overwriting it; one
#                                   this medledger cannot resume (a genesis of chain format 1, from an
#                                   earlier release) is refused, saying how to start over
#   entrypoint.sh start [FLAGS...]  the node in $MEDLEDGER_HOME, exec'd so that SIGTERM reaches it
#   entrypoint.sh ANYTHING...       medledger ANYTHING... (status, keys, chain verify, --help, ...)
#
# The CLI is found relative to this file (../bin/medledger.js) and run with the `node` on PATH,
# which must be Node 24: medledger is TypeScript that Node runs directly by stripping the types.
set -eu

die() {
  echo "entrypoint: $*" >&2
  exit 1
}

cli="$(dirname "$0")/../bin/medledger.js"
[ -f "$cli" ] || die "cannot find the medledger CLI at $cli"
command -v node >/dev/null 2>&1 || die "node is not on PATH (medledger needs Node 24)"
# An older Node fails on the first .ts import with a message that does not say why.
node -e 'process.exit(process.features.typescript ? 0 : 1)' ||
  die "node $(node --version) at $(command -v node) cannot run TypeScript; medledger needs Node 24"

# The --out directory of a testnet command (the CLI's default when none is given), and whether the
# command asks for an overwrite or only for help: those always go to the CLI.
testnet_out() {
  out=./testnet
  previous=
  for arg in "$@"; do
    [ "$previous" = --out ] && out=$arg
    case $arg in
      --out=*) out=${arg#--out=} ;;
      --force | --help | -h) return 1 ;;
    esac
    previous=$arg
  done
  printf '%s\n' "$out"
}

case "${1:-}" in
  testnet)
    shift
    if out=$(testnet_out "$@") && [ -f "$out/genesis.json" ]; then
      # Its validators would each fail to start on a genesis this release refuses: say so once, here.
      node "$cli" genesis validate "$out/genesis.json" >/dev/null ||
        die "the testnet in $out cannot be resumed by this medledger (above); delete it to write a new one (docker compose down -v)"
      echo "entrypoint: a testnet already exists in $out ($out/genesis.json); leaving it as it is"
      exit 0
    fi
    exec node "$cli" testnet "$@"
    ;;
  start)
    shift
    home=${MEDLEDGER_HOME:-}
    [ -n "$home" ] ||
      die "MEDLEDGER_HOME is not set: set it to the node home to start (made by medledger init or medledger testnet)"
    [ -d "$home" ] || die "MEDLEDGER_HOME=$home: no such directory"
    missing=
    for file in genesis.json validator.key; do
      [ -f "$home/$file" ] || missing="$missing $file"
    done
    [ -z "$missing" ] ||
      die "MEDLEDGER_HOME=$home is not a node home (missing:$missing); create it with medledger init, or medledger testnet"
    exec node "$cli" start --home "$home" "$@"
    ;;
  *)
    exec node "$cli" "$@"
    ;;
esac
