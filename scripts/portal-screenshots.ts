/**
 * Regenerates the web portal's screenshots in docs/portal/ (npm run portal:screenshots): a fresh
 * devnet in a temporary directory, the README walkthrough's people set up with the CLI, and each view
 * as its person sees it, in Chromium (/usr/bin/chromium, or $CHROMIUM_PATH). Needs a built portal
 * (npm run build). Everything it starts is stopped, and the temporary directory removed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { freePortBase } from '../src/free-port.ts';
import { projectPath } from '../src/paths.ts';
import {
  browserSkipReason,
  launchChromium,
  ml,
  PASSPHRASE,
  setUpHospitals,
  signIn,
  startDevnet,
  stopDevnet,
} from '../test/fixtures/browser.ts';

const out = projectPath('docs/portal');
const reason = browserSkipReason();
if (reason !== null) {
  console.error(`portal:screenshots: ${reason}`);
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'medledger-portal-shots-'));
const work = join(dir, 'work');
await mkdir(work);
const { child, info } = await startDevnet(
  join(dir, 'devnet'),
  await freePortBase([0, 1, 2, 3, 100, 101, 102, 103]),
);
let browser: Browser | undefined;
try {
  console.log('setting up two hospitals, their staff, a patient and a record…');
  const [h, launched] = await Promise.all([setUpHospitals(info, work), launchChromium()]);
  browser = launched;
  const cityPortal = info.portal.replace(info.apis[0]!, h.city);
  const page = async (): Promise<Page> =>
    (await browser!.newContext({ viewport: { width: 1100, height: 760 }, deviceScaleFactor: 1 })).newPage();
  const shot = async (p: Page, name: string) => {
    await p.waitForTimeout(300); // fonts and the last render
    await p.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`  docs/portal/${name}.png`);
  };

  // Signing in, and a file that is not a keystore.
  const visitor = await page();
  await visitor.goto(info.portal);
  await visitor.getByTestId('sign-in').waitFor();
  await shot(visitor, 'sign-in');
  const notKeystore = join(work, 'notes.txt');
  await writeFile(notKeystore, 'shopping list: milk, bread\n');
  await visitor.getByTestId('keystore-file').setInputFiles(notKeystore);
  await visitor.getByTestId('passphrase').fill('not the passphrase');
  await visitor.getByTestId('sign-in-submit').click();
  await visitor.getByTestId('sign-in-error').waitFor();
  await shot(visitor, 'sign-in-wrong-file');

  // Dr Baker at City General: no access yet, and his read is denied.
  const doctor = await page();
  await signIn(doctor, cityPortal, h.keystores['dr-baker'], PASSPHRASE);
  await doctor.getByTestId('clinician-patient-id').fill(h.patient);
  await doctor.getByTestId('clinician-find').click();
  await doctor.getByTestId('clinician-no-access').waitFor();
  await doctor.getByTestId('clinician-record-id').fill(h.record);
  await doctor.getByTestId('clinician-read').click();
  await doctor.getByTestId('read-denied').waitFor();
  await shot(doctor, 'clinician-denied');
  // He asks the patient for access on the page; the request waits for the patient.
  await doctor.getByTestId('close-record').click();
  await doctor.getByTestId('clinician-no-access').waitFor();
  await doctor.getByTestId('request-reason').fill('follow-up of the HbA1c result');
  await doctor.getByTestId('request-submit').click();
  await doctor.getByTestId('request-pending').waitFor({ timeout: 30_000 });
  await shot(doctor, 'clinician-request-pending');

  // The patient: records, a record opened, requests, sharing after a grant.
  const patient = await page();
  await signIn(patient, info.portal, h.keystores.patient, PASSPHRASE);
  await patient.getByTestId('record-row').first().waitFor();
  await shot(patient, 'patient-records');
  await patient.getByTestId('open-record').first().click();
  await patient.getByTestId('record-content').waitFor();
  await shot(patient, 'patient-record-opened');
  await patient.getByTestId('close-record').click();
  await patient.getByTestId('tab-requests').click();
  await patient.getByTestId('request-pending').first().waitFor();
  await shot(patient, 'patient-requests');
  await patient.getByTestId('approve-request').first().click();
  await patient.getByTestId('request-decided').first().waitFor();
  await patient.getByTestId('tab-sharing').click();
  await patient.getByTestId('grant-who').selectOption('role');
  await patient.getByTestId('grant-organisation').fill('st-mary');
  await patient.getByTestId('grant-role').selectOption('doctor');
  await patient.getByTestId('grant-which').selectOption('types');
  await patient.getByTestId('grant-types').fill('Observation');
  await patient.getByTestId('grant-submit').click();
  await patient.getByTestId('grant-done').waitFor({ timeout: 30_000 });
  await patient.getByTestId('tab-records').click();
  await patient.getByTestId('tab-sharing').click();
  await patient.getByTestId('policy-row').nth(1).waitFor();
  await shot(patient, 'patient-sharing');

  // Dr Baker sees the record now, and reads it under the approved request.
  await doctor.getByTestId('clinician-find').click();
  await doctor.getByTestId('clinician-records').waitFor();
  await shot(doctor, 'clinician-records');
  await doctor.getByTestId('record-open').first().click();
  await doctor.getByTestId('record-content').waitFor({ timeout: 30_000 });
  await shot(doctor, 'clinician-record');

  // The emergency nurse breaks the glass and reads.
  const nurse = await page();
  await signIn(nurse, cityPortal, h.keystores['er-nurse'], PASSPHRASE);
  await nurse.getByTestId('clinician-patient-id').fill(h.patient);
  await nurse.getByTestId('clinician-find').click();
  await nurse.getByTestId('breakglass-reason').fill('unconscious on arrival');
  await nurse.getByTestId('breakglass-duration').fill('60');
  await nurse.getByTestId('breakglass').scrollIntoViewIfNeeded();
  await shot(nurse, 'clinician-breakglass-form');
  await nurse.getByTestId('breakglass-submit').click();
  await nurse.getByTestId('breakglass-banner').waitFor({ timeout: 30_000 });
  await nurse.getByTestId('clinician-read').scrollIntoViewIfNeeded();
  await nurse.getByTestId('clinician-record-id').fill(h.record);
  await nurse.getByTestId('clinician-read').click();
  await nurse.getByTestId('record-content').waitFor({ timeout: 30_000 });
  await shot(nurse, 'clinician-breakglass');

  // Who accessed the patient's records: the denial, the request, the reads, the emergency.
  await patient.getByTestId('tab-access').click();
  await patient.locator('[data-testid="audit-entry"][data-emergency="true"]').first().waitFor();
  await shot(patient, 'patient-access-log');

  // Dr Adams at St Mary adds a second result for the patient (his organisation's care team).
  const adams = await page();
  await signIn(adams, info.portal, h.keystores['dr-adams'], PASSPHRASE);
  await adams.getByTestId('clinician-patient-id').fill(h.patient);
  await adams.getByTestId('clinician-find').click();
  const glucose = join(work, 'glucose.json');
  await writeFile(
    glucose,
    '{"resourceType":"Observation","status":"final","code":{"text":"Fasting glucose"},"valueQuantity":{"value":6.1,"unit":"mmol/L"}}\n',
  );
  await adams.getByTestId('add-record-file').setInputFiles(glucose);
  await adams.getByTestId('add-record-type').fill('Observation');
  await adams.getByTestId('add-record-submit').click();
  await adams.getByTestId('add-record-done').waitFor({ timeout: 30_000 });
  await adams.getByTestId('add-record').scrollIntoViewIfNeeded();
  await shot(adams, 'clinician-add-record');

  // The operator of St Mary's node: the dashboard, then the block that holds the patient's grant.
  const operator = await page();
  await signIn(operator, info.portal, info.operatorKeys[0]!);
  await operator
    .locator('[data-testid="validator-row"][data-connected="true"]')
    .nth(3)
    .waitFor({ timeout: 20_000 });
  // A few transactions through this node between polls: points on the latency chart.
  for (const days of [30, 60, 90, 120]) {
    await ml(work, [
      'grant',
      '--to',
      'org:st-mary',
      '--types',
      'Observation',
      '--expires',
      `${days}d`,
      '--keystore',
      h.keystores.patient,
      '--node',
      h.stMary,
    ]);
    await operator.waitForTimeout(1500);
  }
  await operator.waitForTimeout(3500);
  await shot(operator, 'operator');
  const height = Number(await operator.getByTestId('operator-height').textContent());
  await operator.getByTestId('block-height-input').fill(String(height));
  await operator.getByTestId('block-show').click();
  await operator.getByTestId('block-tx').first().waitFor();
  await operator.getByTestId('block-detail').scrollIntoViewIfNeeded();
  await shot(operator, 'operator-block');
  console.log('done');
} finally {
  await browser?.close().catch(() => {});
  stopDevnet(child);
  await rm(dir, { recursive: true, force: true });
}
