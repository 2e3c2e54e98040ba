export * from './types.ts';
export { LocalSlideStore } from './local.ts';
