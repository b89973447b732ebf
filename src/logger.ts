/** The structured log a component writes to (pino-compatible): fields first, then the message. */
export interface Logger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** A logger that drops everything: the default where a caller gives none (tests, embedding). */
export const SILENT_LOGGER: Logger = { info() {}, warn() {}, debug() {} };
