#!/usr/bin/env bash
# The README's walkthrough, on a running devnet (`npm start` in another terminal):
# two hospitals, a doctor at each, a patient at the first; consent, a denied and a permitted read,
# a refused query outside the asker's scope, reads while St Mary's node is down (no node holds a
# record's key: any two of the four validators serve it), break-glass, the audit trail, revocation,
# online chain verification, and a validator that stops and catches up. Every command that reads
# personal data is signed by the person asking (--keystore), and the node answers only within their
# scope; the node-operator commands are signed with each node's operator key. Run it from an empty
# directory: it writes keystores and files there.
#
#   DEVNET   the devnet directory (default: ~/.local/share/medledger/devnet)
#   ML       how to run medledger (default: this checkout's, on the Node 24 it installs)
set -euo pipefail

DEVNET=${DEVNET:-${XDG_DATA_HOME:-$HOME/.local/share}/medledger/devnet}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]:-.}")/.." && pwd)
if [ -x "$REPO/node_modules/.bin/node" ]; then # run as a script: this checkout's medledger
  NODE="$REPO/node_modules/.bin/node"
  ML=${ML:-"$NODE $REPO/bin/medledger.js"}
else # pasted by hand, inside the checkout
  NODE=node
  ML=${ML:-npx medledger}
fi
export MEDLEDGER_PASSPHRASE=${MEDLEDGER_PASSPHRASE:-medledger-devnet} # the devnet's keystores share it

# The four validators' APIs, from the devnet's layout.
api() { "$NODE" -e 'console.log(require(process.argv[1]).apis[process.argv[2]])' "$DEVNET/devnet.json" "$1"; }
ST_MARY=$(api 0) # St Mary's hospital runs validator 1
CITY=$(api 1)    # City General runs validator 2
# One field of a command's --json output (a.b for nested fields); fails quietly when it is not there.
field() { "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=process.argv[1].split(".").reduce((o,k)=>o[k],JSON.parse(s));if(v===undefined)throw 0;console.log(v)}catch{process.exit(1)}})' "$1"; }
# A step that must be refused: prints the refusal, fails the walkthrough if it succeeds.
refused() { if "$@"; then echo "walkthrough: expected a refusal: $*" >&2; exit 1; fi; }

echo '== keys for everyone (each person keeps their own keystore)'
for who in st-mary-admin city-admin registrar dr-adams dr-baker er-nurse patient; do
  $ML keys new --out "$who.key" --force
done

echo '== the network admin registers two hospitals; each is custodian on its own node'
$ML org register --id st-mary --kind hospital --admin st-mary-admin.key \
  --keystore "$DEVNET/admin.key" --node "$ST_MARY"
$ML org register --id city-general --kind hospital --admin city-admin.key \
  --keystore "$DEVNET/admin.key" --node "$CITY"

echo '== staff: a registrar and a doctor at St Mary, a doctor and an emergency nurse at City General'
$ML practitioner add --key registrar.key --roles registrar --keystore st-mary-admin.key --node "$ST_MARY"
$ML practitioner add --key dr-adams.key --roles doctor --keystore st-mary-admin.key --node "$ST_MARY"
$ML practitioner add --key dr-baker.key --roles doctor --keystore city-admin.key --node "$CITY"
$ML practitioner add --key er-nurse.key --roles emergency-staff --keystore city-admin.key --node "$CITY"

echo '== a patient registers at St Mary (the patient co-signs)'
PATIENT=$($ML patient add --patient-keystore patient.key --keystore registrar.key --node "$ST_MARY" --json | field patient)
DR_BAKER=$($ML keys show dr-baker.key --json | field id)

echo '== Dr Adams adds a FHIR Observation; it is encrypted here, before it leaves this machine'
cat > observation.json <<'JSON'
{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"},"valueQuantity":{"value":7.2,"unit":"%"}}
JSON
RECORD=$($ML record add observation.json --patient "$PATIENT" --type Observation \
  --keystore dr-adams.key --node "$ST_MARY" --json | field record)
$ML record list --patient "$PATIENT" --keystore dr-adams.key --node "$CITY"

echo "== Dr Baker at City General, without a grant, lists the patient's records: refused, and logged"
refused $ML record list --patient "$PATIENT" --keystore dr-baker.key --node "$CITY"

echo "== Dr Baker tries to read it: denied, and the denial is audited"
refused $ML record get "$RECORD" --out copy.json --keystore dr-baker.key --node "$CITY"

echo '== the patient grants Dr Baker read access; Dr Baker reads and decrypts it'
GRANT=$($ML grant --to "$DR_BAKER" --keystore patient.key --node "$ST_MARY" --json | field policy)
$ML record get "$RECORD" --out copy.json --keystore dr-baker.key --node "$CITY"
cmp observation.json copy.json && echo 'the decrypted copy equals the original, byte for byte'

echo "== St Mary's node stops (the devnet holds it down while validator-1/hold exists)"
touch "$DEVNET/validator-1/hold"
kill "$(cat "$DEVNET/validator-1/node.lock")"
for _ in $(seq 1 50); do $ML status --node "$ST_MARY" >/dev/null 2>&1 || break; sleep 0.2; done
refused $ML status --node "$ST_MARY"

echo '== City General still reads under the grant: the other validators hold enough key shares'
$ML record get "$RECORD" --out copy-down.json --keystore dr-baker.key --node "$CITY" --json > read-down.json
cmp observation.json copy-down.json && echo 'decrypted without St Mary, byte for byte'
if grep -q '"validator-1"' read-down.json; then echo 'walkthrough: a share came from the stopped node' >&2; exit 1; fi

echo '== emergency, St Mary still down: the nurse at City General breaks the glass and reads; flagged'
$ML emergency --patient "$PATIENT" --reason 'unconscious on arrival' --duration 1h \
  --keystore er-nurse.key --node "$CITY"
$ML record get "$RECORD" --out er-copy.json --purpose emergency --keystore er-nurse.key --node "$CITY"
echo "== City General's admin reviews its staff's access to the patient (only City General's entries)"
$ML audit --patient "$PATIENT" --limit 3 --keystore city-admin.key --node "$CITY"

echo "== St Mary's node comes back and catches up"
rm "$DEVNET/validator-1/hold"
for _ in $(seq 1 60); do $ML status --node "$ST_MARY" >/dev/null 2>&1 && break; sleep 1; done
$ML status --node "$ST_MARY" >/dev/null

echo "== the patient's audit trail: the denial, the grant, the reads and the emergency"
$ML audit --patient "$PATIENT" --keystore patient.key --node "$ST_MARY"
echo "== and the query City General's node refused: Dr Baker listing the patient's records"
$ML audit refusals --patient "$PATIENT" --keystore patient.key --node "$CITY"

echo '== the patient revokes; the next read is denied'
$ML revoke "$GRANT" --keystore patient.key --node "$ST_MARY"
refused $ML record get "$RECORD" --out copy2.json --force --keystore dr-baker.key --node "$CITY"

echo "== every validator verifies its whole chain, asked by its operator (the key in the node's home)"
for i in 1 2 3 4; do
  $ML chain verify --node "$(api $((i - 1)))" --operator-key "$DEVNET/validator-$i/operator.key"
done

echo '== validator 4 stops; the others carry on; the devnet restarts it and it catches up'
LAST=$(api 3)
kill "$(cat "$DEVNET/validator-4/node.lock")"
$ML grant --to org:city-general --types Observation --keystore patient.key --node "$ST_MARY"
HEIGHT=$($ML status --node "$ST_MARY" --json | field status.height)
for _ in $(seq 1 60); do
  CAUGHT_UP=$($ML status --node "$LAST" --json 2>/dev/null | field status.height || echo -1)
  if [ "$CAUGHT_UP" -ge "$HEIGHT" ]; then break; fi
  sleep 1
done
[ "$CAUGHT_UP" -ge "$HEIGHT" ] || { echo "walkthrough: validator 4 did not catch up" >&2; exit 1; }
echo "validator 4 is back at height $CAUGHT_UP"
echo '== walkthrough complete'
