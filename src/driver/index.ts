/** The replica driver and the ports it carries the consensus core's actions out through. */
export * from './ports.ts';
export * from './replica-driver.ts';
