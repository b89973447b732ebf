export { hex } from './bytes.ts';
