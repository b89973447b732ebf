#!/usr/bin/env bash
# The README's "A network of hospitals": four hospitals, each on its own machine, form one network
# from a genesis file. This script rehearses every step on one machine, with each hospital's node at
# its own port of HOST; on real machines each hospital runs its own steps with its own DNS name.
# Run it from an empty directory: it writes four node homes there, starts them, checks that they
# commit together, and stops them.
#
#   HOST       the address the nodes dial each other at (default 127.0.0.1)
#   P2P_BASE   first p2p port (default 27400); API_BASE: first API port (default 27480)
#   ML         how to run medledger (default: this checkout's, on the Node 24 it installs)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]:-.}")/.." && pwd)
if [ -x "$REPO/node_modules/.bin/node" ]; then
  NODE="$REPO/node_modules/.bin/node"
  ML=${ML:-"$NODE $REPO/bin/medledger.js"}
else
  NODE=node
  ML=${ML:-npx medledger}
fi
HOST=${HOST:-127.0.0.1}
P2P_BASE=${P2P_BASE:-27400}
API_BASE=${API_BASE:-27480}
export MEDLEDGER_PASSPHRASE=${MEDLEDGER_PASSPHRASE:-rehearsal-passphrase}
HOSPITALS=(st-mary city-general riverside hillside)
field() { "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=process.argv[1].split(".").reduce((o,k)=>o[k],JSON.parse(s));if(v===undefined)throw 0;console.log(v)}catch{process.exit(1)}})' "$1"; }
api() { echo "http://127.0.0.1:$((API_BASE + $1))"; }

echo '== 1. each hospital creates its node home and sends the organiser its --validator line'
for i in 0 1 2 3; do
  H=${HOSPITALS[$i]}
  $ML init --home "$H" --name "$H" --p2p-port $((P2P_BASE + i)) --api-port $((API_BASE + i)) \
    --advertise "/ip4/$HOST/tcp/$((P2P_BASE + i))" --force
  $ML node info --home "$H" --json | field genesisValidator > "$H.validator"
done

echo '== 2. the organiser creates the genesis from the four lines and hands it to every hospital'
$ML keys new --out organiser.key --force
VALIDATORS=()
for H in "${HOSPITALS[@]}"; do VALIDATORS+=(--validator "$(cat "$H.validator")"); done
$ML genesis create --chain-id hospitals "${VALIDATORS[@]}" --admin "network admin=organiser.key" \
  --out genesis.json --force
for H in "${HOSPITALS[@]}"; do cp genesis.json "$H/genesis.json"; done

echo '== 3. each hospital starts its node; the nodes find each other at their genesis addresses'
for H in "${HOSPITALS[@]}"; do $ML start --home "$H" > "$H.log" 2>&1 & done
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
for i in 0 1 2 3; do
  for _ in $(seq 1 60); do
    PEERS=$($ML status --node "$(api "$i")" --json 2>/dev/null | field status.peers || echo 0)
    if [ "$PEERS" = 3 ]; then break; fi
    sleep 1
  done
  [ "$PEERS" = 3 ] || { echo "${HOSPITALS[$i]} did not connect to the other three" >&2; exit 1; }
done
$ML status --node "$(api 0)"

echo '== 4. the organiser registers St Mary through its node; every node commits it'
$ML keys new --out st-mary-admin.key --force
$ML org register --id st-mary --kind hospital --admin st-mary-admin.key \
  --keystore organiser.key --node "$(api 0)"
for i in 0 1 2 3; do
  for _ in $(seq 1 30); do
    HEIGHT=$($ML status --node "$(api "$i")" --json | field status.height)
    if [ "$HEIGHT" -ge 1 ]; then break; fi
    sleep 1
  done
  $ML chain verify --node "$(api "$i")" --operator-key "${HOSPITALS[$i]}/operator.key"
done
echo '== the network of hospitals is up'
